"""Broker adapters. Each knows its venue and nothing of strategies."""

from livetrade.brokers.base import AccountInfo, BrokerAdapter, BrokerOrder, EventSink
from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig

__all__ = [
    "AccountInfo",
    "BrokerAdapter",
    "BrokerOrder",
    "EventSink",
    "PaperBroker",
    "PaperBrokerConfig",
]
