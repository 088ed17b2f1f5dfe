"""Which topics are tailed and which are DLQs: one rule for the collector and the DLQ commands."""

from __future__ import annotations

from edamon.actions.scan import is_dlq_topic, topic_rules
from edamon.config import Settings, TopicsSettings
from edamon.model.topics import TopicRules


def test_a_dlq_pattern_matches_the_whole_name() -> None:
    rules = TopicRules(TopicsSettings(dlq=[r"orders\.shipping"]))
    assert rules.is_dlq("orders.shipping")
    assert not rules.is_dlq("orders.shipping.DLQ")  # a prefix is not enough


def test_a_routed_topic_is_a_dlq() -> None:
    rules = TopicRules(TopicsSettings(dlq=[]), dlq_routes={"failures": "orders"})
    assert rules.is_dlq("failures") and not rules.is_dlq("orders")


def test_the_dlq_commands_use_the_collectors_rule() -> None:
    settings = Settings.model_validate(
        {
            "topics": {"include": [r"audit\."], "dlq": [r"audit\.shipping"]},
            "dlq": {"routes": {"audit.failures": "audit.orders"}},
        }
    )
    rules = topic_rules(settings)
    for topic in ("audit.shipping", "audit.shipping.DLQ", "audit.failures", "audit.orders"):
        assert is_dlq_topic(settings, topic) == rules.is_dlq(topic)
    assert [is_dlq_topic(settings, t) for t in ("audit.shipping.DLQ", "audit.failures")] == [
        False,
        True,
    ]
    assert rules.tailed("audit.shipping") and not rules.tailed("bench.x.DLQ")
