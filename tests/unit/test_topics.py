"""Which topics are tailed and which are DLQs: one rule for the collector and the DLQ commands."""

from __future__ import annotations

from edamon.actions.scan import is_dlq_topic
from edamon.collector.state import CollectorState
from edamon.config import Settings, TopicsSettings
from edamon.model.topics import TopicRules


def test_a_dlq_pattern_matches_the_whole_name() -> None:
    rules = TopicRules(TopicsSettings(dlq=[r"orders\.shipping"]))
    assert rules.is_dlq("orders.shipping")
    assert not rules.is_dlq("orders.shipping.DLQ")  # a prefix is not enough


def test_a_routed_topic_is_a_dlq() -> None:
    rules = TopicRules(TopicsSettings(dlq=[]), dlq_routes={"failures": "orders"})
    assert rules.is_dlq("failures") and not rules.is_dlq("orders")


def test_the_dlq_commands_and_the_collector_agree() -> None:
    settings = Settings.model_validate(
        {
            "topics": {"include": [r"audit\."], "dlq": [r"audit\.shipping"]},
            "dlq": {"routes": {"audit.failures": "audit.orders"}},
        }
    )
    collector = CollectorState(settings, cluster="test").rules
    expected = {
        "audit.shipping": True,
        "audit.shipping.DLQ": False,  # the pattern is for the whole name
        "audit.failures": True,  # routed
        "audit.orders": False,
    }
    assert {topic: collector.is_dlq(topic) for topic in expected} == expected
    assert {topic: is_dlq_topic(settings, topic) for topic in expected} == expected
    assert collector.tailed("audit.shipping") and not collector.tailed("bench.x.DLQ")
