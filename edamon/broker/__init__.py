"""One small interface to a broker: Kafka (aiokafka) and in-memory implementations."""

from edamon.broker.base import (
    Broker,
    BrokerAuthError,
    BrokerError,
    BrokerTlsError,
    BrokerUnavailable,
    ClusterInfo,
    GroupConsumer,
    GroupInfo,
    MemberInfo,
    ServerProbe,
    Tailer,
    TopicInfo,
)

__all__ = [
    "Broker",
    "BrokerAuthError",
    "BrokerError",
    "BrokerTlsError",
    "BrokerUnavailable",
    "ClusterInfo",
    "GroupConsumer",
    "GroupInfo",
    "MemberInfo",
    "ServerProbe",
    "Tailer",
    "TopicInfo",
]
