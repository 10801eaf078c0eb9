"""Configuration: a TOML file validated by frozen pydantic models that reject unknown keys.

Every field name carries its unit (``stop_timeout_s``, ``rate_hz``, ``slippage_bps``).
Money and prices are ``Decimal``: write them as strings (``initial_cash = "100000"``) or
plain numbers; TOML floats are converted through their decimal text, never through binary.

:func:`load_config` reports **every** problem at once, each with the file, the line and the
dotted key path, and never echoes a value (so a mistyped secret is not printed).
Secrets, when an adapter needs them, come from environment variables named in the file
(``api_key_env = "BINANCE_API_KEY"``), never from code.

Example (every section is optional; this is also what ``livetrade run`` uses by default)::

    [engine]
    stop_timeout_s = 10

    [broker]
    type = "paper"
    initial_cash = "100000"
    commission_bps = "1"

    [[feeds]]
    type = "simulated"
    symbols = ["BTC-USD", "ETH-USD"]
    rate_hz = 20

    [strategy]
    path = "examples/sma_crossover.py:SmaCrossover"
    params = { fast = 5, slow = 20, quantity = "1" }

Layout (imports point one way: ``base`` <- sections <- ``model`` <- ``loading``):
``base`` the shared frozen section; ``engine``, ``brokers``, ``feeds``, ``strategy``,
``scheduling``, ``state``, ``resilience``, ``monitoring`` one module per group of tables;
``model`` the whole file; ``problems`` error lines with file, line and key; ``loading``
:func:`parse_config` and :func:`load_config`; ``unused`` the settings a file may set that
this version accepts and does not act on (warnings, never silence). Import every name
from ``livetrade.config``.
"""

from __future__ import annotations

from livetrade.config.base import NonNegDecimal, PosDecimal
from livetrade.config.brokers import (
    IB_CONTRACT_SPEC,
    BrokerSection,
    CCXTBrokerSection,
    IBBrokerSection,
    PaperBrokerSection,
)
from livetrade.config.engine import EngineSection, LoggingSection
from livetrade.config.feeds import (
    BinanceStreamFeedSection,
    BybitStreamFeedSection,
    CCXTPollingFeedSection,
    FeedSection,
    HyperliquidStreamFeedSection,
    ReplayFeedSection,
    SimulatedFeedSection,
)
from livetrade.config.loading import load_config, parse_config
from livetrade.config.model import LiveTradeConfig
from livetrade.config.monitoring import AlertSection, MonitoringSection, WebhookSection
from livetrade.config.problems import format_problems
from livetrade.config.resilience import ResilienceSection
from livetrade.config.scheduling import (
    AtJob,
    EveryJob,
    MarketCloseJob,
    MarketOpenJob,
    ScheduleEntry,
    SchedulerSection,
)
from livetrade.config.state import StateSection
from livetrade.config.strategy import DEFAULT_STRATEGY, RiskSection, StrategySection
from livetrade.config.unused import unused_settings

__all__ = [
    "DEFAULT_STRATEGY",
    "IB_CONTRACT_SPEC",
    "AlertSection",
    "AtJob",
    "BinanceStreamFeedSection",
    "BrokerSection",
    "BybitStreamFeedSection",
    "CCXTBrokerSection",
    "CCXTPollingFeedSection",
    "EngineSection",
    "EveryJob",
    "FeedSection",
    "HyperliquidStreamFeedSection",
    "IBBrokerSection",
    "LiveTradeConfig",
    "LoggingSection",
    "MarketCloseJob",
    "MarketOpenJob",
    "MonitoringSection",
    "NonNegDecimal",
    "PaperBrokerSection",
    "PosDecimal",
    "ReplayFeedSection",
    "ResilienceSection",
    "RiskSection",
    "ScheduleEntry",
    "SchedulerSection",
    "SimulatedFeedSection",
    "StateSection",
    "StrategySection",
    "WebhookSection",
    "format_problems",
    "load_config",
    "parse_config",
    "unused_settings",
]
