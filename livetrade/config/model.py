"""``LiveTradeConfig``: the whole file, one field per top-level table, each with its default.

The only module that knows every section; the sections know nothing of each other.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from livetrade.config.base import _Section
from livetrade.config.brokers import BrokerSection, PaperBrokerSection
from livetrade.config.engine import EngineSection, LoggingSection
from livetrade.config.feeds import FeedSection, SimulatedFeedSection
from livetrade.config.monitoring import MonitoringSection
from livetrade.config.resilience import ResilienceSection
from livetrade.config.scheduling import ScheduleEntry, SchedulerSection
from livetrade.config.state import StateSection
from livetrade.config.strategy import RiskSection, StrategySection


def _default_feeds() -> list[FeedSection]:
    return [SimulatedFeedSection()]


class LiveTradeConfig(_Section):
    """The whole file."""

    engine: EngineSection = Field(default_factory=EngineSection)
    broker: BrokerSection = Field(default_factory=PaperBrokerSection)
    feeds: list[FeedSection] = Field(default_factory=_default_feeds)
    strategy: StrategySection = Field(default_factory=StrategySection)
    risk: RiskSection = Field(default_factory=RiskSection)
    scheduler: SchedulerSection = Field(default_factory=SchedulerSection)
    schedule: list[ScheduleEntry] = Field(default_factory=list)
    state: StateSection = Field(default_factory=StateSection)
    resilience: ResilienceSection = Field(default_factory=ResilienceSection)
    logging: LoggingSection = Field(default_factory=LoggingSection)
    monitoring: MonitoringSection = Field(default_factory=MonitoringSection)

    @field_validator("broker", mode="before")
    @classmethod
    def _paper_by_default(cls, value: Any) -> Any:
        """A ``[broker]`` table without ``type`` is the paper broker, as before venues."""
        if isinstance(value, dict) and "type" not in value:
            return {**value, "type": "paper"}
        return value
