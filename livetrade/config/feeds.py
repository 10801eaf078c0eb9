"""The ``[[feeds]]`` tables: one section per market-data source, chosen by its ``type`` tag.

Its own module so a feed imports only the section it reads, and a new source is one class
here plus its tag in :data:`FeedSection`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field

from livetrade.config.base import PosDecimal, _Section


class SimulatedFeedSection(_Section):
    """``[[feeds]]`` with ``type = "simulated"``: a seeded random walk."""

    type: Literal["simulated"] = "simulated"
    symbols: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["BTC-USD", "ETH-USD", "SOL-USD"], min_length=1)
    rate_hz: float = Field(50.0, ge=0)
    seed: int = 42
    start_price: PosDecimal = Decimal(100)
    volatility_bps: float = Field(20.0, ge=0)
    tick_size: PosDecimal = Decimal("0.01")
    max_events: int | None = Field(None, gt=0)


class ReplayFeedSection(_Section):
    """``[[feeds]]`` with ``type = "replay"``: a CSV of ticks or bars."""

    type: Literal["replay"]
    path: Path
    symbol: str | None = None
    speed: float | None = Field(None, gt=0)
    on_bad_row: Literal["skip", "fail"] = "skip"


class _StreamSection(_Section):
    """What every websocket feed section shares: endpoints, symbols and the connection's
    timing (staleness, pings, reconnect backoff, REST resync, the frame size limit)."""

    ws_url: str
    rest_url: str | None = None
    symbols: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    stale_after_s: float = Field(10.0, gt=0)
    ping_interval_s: float = Field(20.0, gt=0)
    ping_timeout_s: float = Field(10.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    reconnect_initial_s: float = Field(0.5, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    resync_timeout_s: float = Field(5.0, gt=0)
    max_message_bytes: int = Field(1_000_000, gt=0)


class BinanceStreamFeedSection(_StreamSection):
    """``[[feeds]]`` with ``type = "binance_stream"``: Binance-shaped websocket streams
    (the real exchange or ``livetrade sim-exchange``), resynced over REST after a gap."""

    type: Literal["binance_stream"]
    streams: list[str] = Field(default_factory=lambda: ["trade"])
    klines_closed_only: bool = True


class CCXTPollingFeedSection(_Section):
    """``[[feeds]]`` with ``type = "ccxt_poll"``: tickers polled through ccxt, for venues
    without a stream."""

    type: Literal["ccxt_poll"]
    exchange: str = "binance"
    rest_url: str | None = None
    symbols: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    interval_s: float = Field(1.0, gt=0)
    timeout_ms: int = Field(10_000, gt=0)
    options: dict[str, Any] = Field(default_factory=dict)
    stale_after_s: float = Field(30.0, gt=0)
    error_backoff_max_s: float = Field(30.0, gt=0)


class BybitStreamFeedSection(_StreamSection):
    """``[[feeds]]`` with ``type = "bybit_stream"``: Bybit v5 public topics (``publicTrade``,
    ``tickers``) for spot or linear symbols (one category per feed)."""

    type: Literal["bybit_stream"]
    kinds: list[str] = Field(default_factory=lambda: ["publicTrade"])


class HyperliquidStreamFeedSection(_StreamSection):
    """``[[feeds]]`` with ``type = "hyperliquid_stream"``: Hyperliquid ``trades`` and/or
    ``allMids`` channels for USDC perpetuals ("BTC/USDC:USDC")."""

    type: Literal["hyperliquid_stream"]
    kinds: list[str] = Field(default_factory=lambda: ["trades"])


FeedSection = Annotated[
    SimulatedFeedSection | ReplayFeedSection | BinanceStreamFeedSection | CCXTPollingFeedSection
    | BybitStreamFeedSection | HyperliquidStreamFeedSection,
    Field(discriminator="type")]
