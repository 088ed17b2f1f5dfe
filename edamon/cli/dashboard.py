"""`edamon` with no subcommand: the dashboard on a real cluster (or on the demo's broker)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from edamon.broker.base import Broker
from edamon.config import Settings
from edamon.decode.registry import SchemaRegistry


def run_dashboard(
    settings: Settings,
    broker: Broker | None = None,
    background: Sequence[Callable[[], Awaitable[None]]] = (),
    registry: SchemaRegistry | None = None,
) -> int:
    """Open the dashboard and return the exit code.

    `broker`: the broker to watch (default: Kafka from settings). `background`: extra coroutines
    run for the app's lifetime on its loop (the demo's simulation), cancelled on exit. DLQ retry
    (`r` on the dead-letters screen) goes through the same broker; settings.read_only disables it.
    `registry`: the schema registry (default: the configured one; the demo's in-process one).
    """
    from edamon.actions.service import RetryService
    from edamon.collector.collector import Collector
    from edamon.ui.app import EdamonApp

    if broker is None:
        from edamon.broker.kafka import KafkaBroker

        broker = KafkaBroker(settings.kafka)
    collector = Collector(broker, settings, registry=registry)
    app = EdamonApp(
        collector,
        settings,
        run=collector.run,
        background=background,
        redrive=RetryService(broker, settings),
    )
    code = app.run()  # the collector closes the broker's clients when its worker is cancelled
    return code if isinstance(code, int) else 0
