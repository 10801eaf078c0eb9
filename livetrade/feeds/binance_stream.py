"""Placeholder until the venue feeds land (issue #4): refuses with a clear message."""

from __future__ import annotations

from livetrade.clock import Clock
from livetrade.config import BinanceStreamFeedSection
from livetrade.errors import ConfigError
from livetrade.feeds.base import DataFeed


def binance_feed_from_section(section: BinanceStreamFeedSection, clock: Clock) -> DataFeed:
    raise ConfigError(f"feed type '{section.type}' is not available in this build")
