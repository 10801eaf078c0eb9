"""The ``[broker]`` table: one section per venue, chosen by its ``type`` tag.

Its own module so a broker adapter imports only the section it reads, and a new venue is one
class here plus its tag in :data:`BrokerSection`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr

from livetrade.config.base import NonNegDecimal, PosDecimal, _Section


class PaperBrokerSection(_Section):
    """``[broker]`` with ``type = "paper"``: the embedded simulated venue."""

    type: Literal["paper"] = "paper"
    initial_cash: PosDecimal = Decimal(100_000)
    currency: str = "USD"
    slippage_bps: NonNegDecimal = Decimal(0)
    commission_bps: NonNegDecimal = Decimal(0)
    commission_per_order: NonNegDecimal = Decimal(0)
    participation: Annotated[Decimal, Field(gt=0, le=1)] | None = None
    symbols: list[str] = Field(default_factory=list)
    store_dir: Path | None = None  # the venue remembers its account across restarts
    fill_history: int = Field(100_000, gt=0)
    closed_order_history: int = Field(10_000, gt=0)


class CCXTBrokerSection(_Section):
    """``[broker]`` with ``type = "ccxt"``: a crypto venue through ccxt's synchronous classes.

    Credentials come from the environment variables named here, or from the file itself
    (``api_key``/``api_secret``); they are held as ``SecretStr`` so they never print.
    ``rest_url`` points the venue at ``livetrade sim-exchange`` (or a testnet). ``ws_url``
    (the venue's user-data stream) is accepted for configs written ahead but not used yet:
    fills come from the order's answer and from polling every ``poll_interval_s``.
    """

    type: Literal["ccxt"]
    exchange: str = "binance"
    api_key_env: str = "LIVETRADE_API_KEY"
    api_secret_env: str = "LIVETRADE_API_SECRET"
    api_key: SecretStr | None = None
    api_secret: SecretStr | None = None
    sandbox: bool = False
    timeout_ms: int = Field(10_000, gt=0)
    enable_rate_limit: bool = True
    rest_url: str | None = None
    ws_url: str | None = None
    poll_interval_s: float = Field(1.0, gt=0)
    symbols: list[str] = Field(default_factory=list)
    quote_currency: str = "USDT"
    options: dict[str, Any] = Field(default_factory=dict)


IB_CONTRACT_SPEC = r"^[^:\s]+:(STK|FUT|CASH|CRYPTO|IND|CFD|CMDTY)(:[^:\s]*){2,4}$"


class IBBrokerSection(_Section):
    """``[broker]`` with ``type = "ib"``: Interactive Brokers through TWS or IB Gateway."""

    type: Literal["ib"]
    host: str = "127.0.0.1"
    port: int = Field(7497, gt=0, lt=65536)
    client_id: int = Field(1, ge=0)
    account: str | None = None
    currency: str = "USD"
    exchange: str = "SMART"
    symbols: list[str] = Field(default_factory=list)
    connect_timeout_s: float = Field(10.0, gt=0)
    request_timeout_s: float = Field(10.0, gt=0)
    # ib_async is the maintained fork of ib_insync with the same API; either drives the adapter.
    library: Literal["ib_insync", "ib_async"] = "ib_insync"
    # engine symbol -> "SYMBOL:SECTYPE:EXCHANGE:CURRENCY[:EXPIRY[:MULTIPLIER]]", e.g.
    # { EURUSD = "EUR:CASH:IDEALPRO:USD", ESZ6 = "ES:FUT:CME:USD:202612" }; a plain entry in
    # ``symbols`` may also be such a spec (its engine symbol is then its first part).
    contracts: dict[str, Annotated[str, Field(pattern=IB_CONTRACT_SPEC)]] = Field(
        default_factory=dict)
    reconnect_initial_s: float = Field(1.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    market_data: bool = False  # stream ticks for ``symbols`` over the same connection
    market_data_type: int = Field(1, ge=1, le=4)  # IB's 1 live, 2 frozen, 3 delayed, 4 both


BrokerSection = Annotated[PaperBrokerSection | CCXTBrokerSection | IBBrokerSection,
                          Field(discriminator="type")]
