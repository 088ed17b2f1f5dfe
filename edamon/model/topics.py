"""Which topics to tail, which are DLQs: compiled once from the topic settings. The one rule
for the collector, the DLQ commands and `edamon check`."""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from edamon.config import TopicsSettings


class TopicRules:
    """Include/exclude/DLQ matching (re.match, anchored at the start; full match for DLQs).
    A topic named in `dlq_routes` (`dlq.routes`) is a DLQ too."""

    def __init__(
        self,
        settings: TopicsSettings,
        *,
        ledger_topic: str | None = None,
        dlq_routes: Collection[str] = (),
    ) -> None:
        self._include = [re.compile(p) for p in settings.include]
        self._exclude = [re.compile(p) for p in settings.exclude]
        self._dlq = [re.compile(p) for p in settings.dlq]
        self._routes = frozenset(dlq_routes)
        self.ledger_topic = ledger_topic
        self._dlq_cache: dict[str, bool] = {}

    def tailed(self, topic: str) -> bool:
        """Whether the collector reads this topic (DLQs and the retry ledger included)."""
        if topic == self.ledger_topic:
            return True
        if any(p.match(topic) for p in self._exclude):
            return False
        return any(p.match(topic) for p in self._include)

    def is_dlq(self, topic: str) -> bool:
        known = self._dlq_cache.get(topic)
        if known is None:
            known = topic in self._routes or any(p.fullmatch(topic) for p in self._dlq)
            self._dlq_cache[topic] = known
        return known

    def select(self, topics: Iterable[str]) -> list[str]:
        return sorted(t for t in topics if self.tailed(t))
