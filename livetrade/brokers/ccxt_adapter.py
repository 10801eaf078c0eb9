"""Placeholder until the CCXT adapter lands (issue #4): refuses with a clear message."""

from __future__ import annotations

from livetrade.brokers.base import BrokerAdapter
from livetrade.clock import Clock
from livetrade.config import CCXTBrokerSection
from livetrade.errors import ConfigError


def ccxt_adapter_from_section(section: CCXTBrokerSection, clock: Clock) -> BrokerAdapter:
    raise ConfigError("broker type 'ccxt' is not available in this build")
