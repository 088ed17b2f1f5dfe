"""What the connection state says while the cluster does not answer: the reason, and for how
long, counted live from the first request left unanswered (or failed) since the last answer.

The collector reports what it asks and hears (`asking`, `answered`, `failed`), what a new
connection to the servers sees (`probes`, from `Broker.probe_servers`), and shows `text(now)`
on every tick while not connected: `no answer from 127.0.0.1:9092 for 23s (connection open,
nothing received)`, `cannot reach kafka at …: connection refused (for 40s, retrying in 2.9s)`,
`connecting for 2s…`. The reason never gives way to a bare "connecting…" between attempts.
"""

from __future__ import annotations

from collections.abc import Sequence

from edamon.broker.base import ServerProbe

NO_ANSWER_S = 3.0
"""A request unanswered this long shows the connection as "no answer" until it returns (a
hung broker fails a request only after the request timeout: kafka.request_timeout_s)."""
PROBE_AFTER_S = 1.0
"""A request unanswered this long starts a new connection to the servers (its answer, within
PROBE_TIMEOUT_S, then says why by the time NO_ANSWER_S is reached)."""
PROBE_EVERY_S = 10.0
"""While the cluster does not answer, a new connection to its servers is tried this often."""
PROBE_TIMEOUT_S = 2.0
"""How long that new connection waits for an answer (a live broker answers in milliseconds)."""


def whole_duration(seconds: float) -> str:
    """`7s`, `3m05s`, `2h01m`: whole seconds, for a duration counted live."""
    total = max(0, int(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        return f"{total // 60}m{total % 60:02d}s"
    return f"{total // 3600}h{total % 3600 // 60:02d}m"


class Outage:
    """The cluster's silence as the collector lives it (see the module doc)."""

    def __init__(self, cluster: str, *, no_answer_s: float | None = None) -> None:
        self.cluster = cluster
        self.no_answer_s = NO_ANSWER_S if no_answer_s is None else no_answer_s
        self.quiet_from: float | None = None
        """The first request unanswered (or failed) since the last answer was sent then."""
        self.asking_since: float | None = None
        """A request the cluster must answer has been waiting since then."""
        self.error: str | None = None
        """The last failure since the last answer."""
        self.retry_at: float | None = None
        """When the next connection attempt starts (after a failure)."""
        self.probes: tuple[ServerProbe, ...] = ()
        """What a new connection to the servers saw, during this outage."""
        self.probed_at: float | None = None

    def asking(self, now: float) -> None:
        """A request the cluster must answer starts (a connection, a lag sample)."""
        if self.asking_since is None:
            self.asking_since = now
        if self.quiet_from is None:
            self.quiet_from = now
        self.retry_at = None

    def answered(self) -> None:
        """The cluster answered: no outage."""
        self.quiet_from = self.asking_since = self.error = self.retry_at = None
        self.probes = ()
        self.probed_at = None

    def failed(self, reason: str, now: float, retry_in: float | None = None) -> None:
        """A request failed (`reason`); the next attempt in `retry_in` seconds, if known."""
        self.error = reason
        self.asking_since = None
        if self.quiet_from is None:
            self.quiet_from = now
        self.retry_at = None if retry_in is None else now + retry_in

    def probed(self, probes: Sequence[ServerProbe], now: float) -> None:
        """What a new connection to the servers saw (kept until the cluster answers)."""
        if self.quiet_from is not None:  # not answered meanwhile
            self.probes = tuple(probes)
            self.probed_at = now

    def silent(self, now: float) -> bool:
        """A request has waited NO_ANSWER_S or more."""
        return self.asking_since is not None and now - self.asking_since >= self.no_answer_s

    def unanswered(self, now: float) -> bool:
        """Silent, and no new connection to the servers was answered either: a connection
        that was up no longer counts as one (a request slow on a cluster that answers new
        connections is no outage)."""
        return self.silent(now) and not any(p.answered for p in self.probes)

    def wants_probe(self, now: float) -> bool:
        """Time to try a new connection: a request waited PROBE_AFTER_S or failed, and the
        last try is PROBE_EVERY_S old (NO_ANSWER_S if it was answered; or none yet)."""
        waited = self.asking_since is not None and now - self.asking_since >= PROBE_AFTER_S
        if not (waited or self.error is not None):
            return False
        if self.probed_at is None:
            return True
        # A server that answered may have stopped since: asked again sooner.
        every = NO_ANSWER_S if any(p.answered for p in self.probes) else PROBE_EVERY_S
        return now - self.probed_at >= every

    def text(self, now: float) -> str:
        """The reason, with the outage's live duration."""
        if self.quiet_from is None:
            return "connecting…"
        lasted = whole_duration(now - self.quiet_from)
        probes_silent = bool(self.probes) and all(p.silent for p in self.probes)
        if self.silent(now) or (self.error is not None and probes_silent):
            if not self.probes:  # the first try of a new connection is under way
                return f"no answer from {self.cluster} for {lasted}"
            if len(self.probes) == 1:
                [probe] = self.probes
                if probe.answered:  # slow, or this client's connection is stuck
                    return f"no answer for {lasted} ({probe.server} {probe.note})"
                return f"no answer from {probe.server} for {lasted} ({probe.note})"
            notes = "; ".join(f"{p.server}: {p.note}" for p in self.probes)
            return f"no answer from the cluster for {lasted} ({notes})"
        if self.error is not None:
            if self.retry_at is not None and self.retry_at > now:
                return f"{self.error} (for {lasted}, retrying in {self.retry_at - now:.1f}s)"
            return f"{self.error} (for {lasted}, retrying)"
        return f"connecting for {lasted}…"
