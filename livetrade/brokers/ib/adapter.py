"""Placeholder until the IB adapter lands (issue #9): refuses with a clear message."""

from __future__ import annotations

from livetrade.brokers.base import BrokerAdapter
from livetrade.clock import Clock
from livetrade.config import IBBrokerSection
from livetrade.errors import ConfigError


def ib_adapter_from_section(section: IBBrokerSection, clock: Clock) -> BrokerAdapter:
    raise ConfigError("broker type 'ib' is not available in this build")
