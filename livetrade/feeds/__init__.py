"""Market data feeds. Each runs on its own thread and publishes ``MarketData`` events."""

from livetrade.feeds.base import DataFeed
from livetrade.feeds.replay import ReplayFeed
from livetrade.feeds.simulated import SimulatedFeed

__all__ = ["DataFeed", "ReplayFeed", "SimulatedFeed"]
