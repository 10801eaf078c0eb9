"""Settings of the exchange simulator: the venue, its instruments and its faults.

Plain frozen dataclasses (not the pydantic config of ``livetrade run``): the simulator is
built by tests and by its own CLI, both of which already hold typed values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

DEFAULT_START_PRICES: dict[str, Decimal] = {
    "BTC/USDT": Decimal("30000"),
    "ETH/USDT": Decimal("2000"),
}


@dataclass(frozen=True)
class SymbolSpec:
    """One instrument and the filters the venue enforces on it (tick, lot, notional).

    Why a spec per symbol: every dialect (Binance, Bybit, ...) describes the same three
    limits in its own words; the core checks them once, front doors only word the refusal.
    """

    symbol: str  # ccxt unified, "BTC/USDT"
    tick_size: Decimal = Decimal("0.01")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    min_notional: Decimal = Decimal("5")

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def venue_id(self) -> str:
        """The wire name: "BTCUSDT"."""
        return self.base + self.quote


@dataclass(frozen=True)
class FaultConfig:
    """What to break, how often, and where.

    Why one flat record: the CLI flags, the admin endpoint and ``sim.faults.set`` all carry
    the same fields, so a test can reproduce a command line exactly. Rates are
    probabilities per request (or per websocket message for ``ws_drop_rate``) drawn from a
    generator seeded with ``seed``, so a run is repeatable. ``scope`` limits the HTTP
    faults to endpoints named ``"METHOD /path"`` (e.g. ``"POST /api/v3/order"``); empty
    means every endpoint except the admin one.
    """

    error_rate: float = 0.0  # 5xx responses
    error_status: int = 503  # 503 or 502 (or 500)
    error_body: str = "binance"  # "binance" -> {"code":-1001,...}; "plain" -> text
    timeout_rate: float = 0.0  # executed, response never sent
    timeout_mode: str = "close"  # "close": hold then close the socket; "hang": hold only
    timeout_hold_s: float = 1.0
    rate_limit_rate: float = 0.0  # 429 with Retry-After
    retry_after_s: int = 1
    ws_drop_rate: float = 0.0
    fill_delay_ms: int = 0
    partial_fill_fraction: float | None = None  # cap each fill to this share of the order
    clock_skew_ms: int = 0
    scope: tuple[str, ...] = ()
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("error_rate", "timeout_rate", "rate_limit_rate", "ws_drop_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.error_status not in (500, 502, 503, 504):
            raise ValueError(f"error_status must be a 5xx code, got {self.error_status}")
        if self.error_body not in ("binance", "plain"):
            raise ValueError("error_body must be 'binance' or 'plain'")
        if self.timeout_mode not in ("close", "hang"):
            raise ValueError("timeout_mode must be 'close' or 'hang'")
        if self.partial_fill_fraction is not None and not 0 < self.partial_fill_fraction <= 1:
            raise ValueError("partial_fill_fraction must be in (0, 1]")
        if self.fill_delay_ms < 0 or self.timeout_hold_s < 0 or self.retry_after_s < 0:
            raise ValueError("delays must be >= 0")


@dataclass(frozen=True)
class SimExchangeConfig:
    """How to build one simulator: addresses, instruments, prices, account and limits.

    ``api_key``/``api_secret`` of None are generated at start (``secrets.token_hex``).
    ``price_source`` is ``"manual"`` (tests call ``set_price``), ``"random"`` (a seeded
    random walk every ``tick_interval_s``) or a ``Path`` to a CSV replayed at that pace.
    """

    host: str = "127.0.0.1"
    port: int = 0
    ws_port: int = 0
    state_dir: Path | None = None
    symbols: tuple[str, ...] = ("BTC/USDT", "ETH/USDT")
    price_source: str | Path = "manual"
    seed: int = 1
    tick_interval_s: float = 0.1
    start_prices: dict[str, Decimal] = field(default_factory=dict)
    balances: dict[str, Decimal] = field(
        default_factory=lambda: {"USDT": Decimal("100000")})
    api_key: str | None = None
    api_secret: str | None = None
    commission_bps: Decimal = Decimal("10")
    participation: Decimal | None = None  # share of each price step's volume an order gets
    slippage_bps: Decimal = Decimal(0)
    specs: tuple[SymbolSpec, ...] = ()  # overrides the default spec of a symbol
    request_weight_limit: int = 6000  # per minute, like Binance's REQUEST_WEIGHT
    ban_after_429: int = 5  # 429s ignored in a row before the venue answers 418
    ws_queue_size: int = 10_000  # per connection; overflow drops the connection
    faults: FaultConfig = field(default_factory=FaultConfig)
    allow_remote: bool = False

    def spec(self, symbol: str) -> SymbolSpec:
        for spec in self.specs:
            if spec.symbol == symbol:
                return spec
        return SymbolSpec(symbol)

    def start_price(self, symbol: str) -> Decimal:
        if symbol in self.start_prices:
            return self.start_prices[symbol]
        return DEFAULT_START_PRICES.get(symbol, Decimal("100"))
