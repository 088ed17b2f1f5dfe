"""The `:` command palette: jump to a screen, to a chain by correlation id, or to a topic."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from edamon.ui.screens.search import found_commands
from edamon.ui.widgets.bars import SCREENS

if TYPE_CHECKING:
    from edamon.ui.app import EdamonApp

MAX_CHAINS = 2000
"""Chains offered by the palette (the most recently updated)."""


class EdamonCommands(Provider):
    """Commands built from the latest snapshot when the palette opens."""

    def _commands(self) -> list[tuple[str, Callable[[], None], str]]:
        app = cast("EdamonApp", self.app)
        commands: list[tuple[str, Callable[[], None], str]] = [
            (f"screen {label}", partial(app.go, name), f"key {index}")
            for index, (name, label) in enumerate(SCREENS, start=1)
        ]
        commands.append(
            ("search Kafka", app.open_search, "find a flow from the past by id, key or header")
        )
        commands.extend(found_commands(app))
        snap = app.last_snapshot
        if snap is None:
            return commands
        for topic in sorted(snap.throughput.topics, key=lambda t: t.topic):
            kind = "dead-letter topic" if topic.is_dlq else "topic"
            commands.append((f"topic {topic.topic}", partial(app.focus_topic, topic.topic), kind))
        for chain in snap.chains[:MAX_CHAINS]:
            commands.append(
                (
                    f"chain {chain.correlation_id}",
                    partial(app.open_chain, chain.correlation_id),
                    f"{chain.root_type}, {chain.events} events",
                )
            )
        return commands

    async def discover(self) -> Hits:
        """With nothing typed: the screens."""
        for text, command, help_text in self._commands()[: len(SCREENS) + 1]:
            yield DiscoveryHit(text, command, help=help_text)

    async def search(self, query: str) -> Hits:
        """Fuzzy match over screens, topics and chains."""
        matcher = self.matcher(query)
        for text, command, help_text in self._commands():
            score = matcher.match(text)
            if score > 0:
                yield Hit(score, matcher.highlight(text), command, text=text, help=help_text)
