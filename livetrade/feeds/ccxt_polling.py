"""Placeholder until the venue feeds land (issue #4): refuses with a clear message."""

from __future__ import annotations

from livetrade.clock import Clock
from livetrade.config import CCXTPollingFeedSection
from livetrade.errors import ConfigError
from livetrade.feeds.base import DataFeed


def ccxt_polling_feed_from_section(section: CCXTPollingFeedSection, clock: Clock) -> DataFeed:
    raise ConfigError(f"feed type '{section.type}' is not available in this build")
