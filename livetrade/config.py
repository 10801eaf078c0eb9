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
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from livetrade.errors import ConfigError
from livetrade.switch_interval import DEFAULT_SWITCH_INTERVAL_S

NonNegDecimal = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
PosDecimal = Annotated[Decimal, Field(gt=0, allow_inf_nan=False)]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EngineSection(_Section):
    """``[engine]``: dispatcher and lifecycle tuning."""

    market_data_policy: Literal["conflate", "block"] = "conflate"
    conflate_depth: int = Field(10_000, gt=0)
    max_pending_market_data: int = Field(1_000, gt=0)
    stop_timeout_s: float = Field(10.0, gt=0)
    status_interval_s: float = Field(1.0, gt=0)
    closed_orders_kept: int = Field(10_000, gt=0)
    order_id_prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,16}$")
    gc_tuning: bool = True  # freeze startup objects, young GC threshold 10,000 (gc_tuning.py)
    # GIL switch interval while the engine runs (switch_interval.py); 0 leaves it alone
    switch_interval_s: float = Field(DEFAULT_SWITCH_INTERVAL_S, ge=0, le=1)


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


class BinanceStreamFeedSection(_Section):
    """``[[feeds]]`` with ``type = "binance_stream"``: Binance-shaped websocket streams
    (the real exchange or ``livetrade sim-exchange``), resynced over REST after a gap."""

    type: Literal["binance_stream"]
    ws_url: str
    rest_url: str | None = None
    symbols: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    streams: list[str] = Field(default_factory=lambda: ["trade"])
    stale_after_s: float = Field(10.0, gt=0)
    ping_interval_s: float = Field(20.0, gt=0)
    ping_timeout_s: float = Field(10.0, gt=0)
    reconnect_max_s: float = Field(30.0, gt=0)
    reconnect_initial_s: float = Field(0.5, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    resync_timeout_s: float = Field(5.0, gt=0)
    max_message_bytes: int = Field(1_000_000, gt=0)
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


class _VenueStreamSection(_Section):
    """Timing shared by the Bybit and Hyperliquid websocket feeds (as ``binance_stream``)."""

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


class BybitStreamFeedSection(_VenueStreamSection):
    """``[[feeds]]`` with ``type = "bybit_stream"``: Bybit v5 public topics (``publicTrade``,
    ``tickers``) for spot or linear symbols (one category per feed)."""

    type: Literal["bybit_stream"]
    kinds: list[str] = Field(default_factory=lambda: ["publicTrade"])


class HyperliquidStreamFeedSection(_VenueStreamSection):
    """``[[feeds]]`` with ``type = "hyperliquid_stream"``: Hyperliquid ``trades`` and/or
    ``allMids`` channels for USDC perpetuals ("BTC/USDC:USDC")."""

    type: Literal["hyperliquid_stream"]
    kinds: list[str] = Field(default_factory=lambda: ["trades"])


FeedSection = Annotated[
    SimulatedFeedSection | ReplayFeedSection | BinanceStreamFeedSection | CCXTPollingFeedSection
    | BybitStreamFeedSection | HyperliquidStreamFeedSection,
    Field(discriminator="type")]

DEFAULT_STRATEGY = "examples/sma_crossover.py:SmaCrossover"


class StrategySection(_Section):
    """``[strategy]``: ``path`` is ``module:Class`` or ``file.py:Class``; ``params`` go to
    the constructor as keyword arguments."""

    path: str = DEFAULT_STRATEGY
    params: dict[str, int | bool | str | Decimal] = Field(default_factory=dict)

    @field_validator("path")
    @classmethod
    def _module_and_class(cls, value: str) -> str:
        module, sep, name = value.rpartition(":")
        if not sep or not module or not name.isidentifier():
            raise ValueError("must look like module:Class or path/to/file.py:Class")
        return value


class RiskSection(_Section):
    """``[risk]``: pre-trade limits; leave a key out to disable that limit."""

    max_order_quantity: PosDecimal | None = None
    max_order_notional: PosDecimal | None = None
    max_position_quantity: PosDecimal | None = None
    max_open_orders: int | None = Field(None, gt=0)
    max_orders_per_second: int | None = Field(None, gt=0)


class SchedulerSection(_Section):
    """``[scheduler]``: how often the live scheduler looks at the clock, the default
    calendar, and where fired triggers are remembered across restarts (``store_dir``;
    default: ``<[state] directory>/scheduler`` when ``[state]`` is set, else nowhere, and a
    restart may then re-fire today's triggers)."""

    poll_interval_s: float = Field(1.0, gt=0)
    default_calendar: str = "NYSE"
    store_dir: Path | None = None


class _JobSection(_Section):
    name: str | None = None
    calendar: str | None = None
    missed: Literal["skip", "fire_once_late"] = "fire_once_late"
    grace_s: float = Field(60.0, ge=0)


class MarketOpenJob(_JobSection):
    """``[[schedule]]`` with ``type = "market_open"``: ``offset_s`` after each open."""

    type: Literal["market_open"]
    offset_s: float = 0.0


class MarketCloseJob(_JobSection):
    """``[[schedule]]`` with ``type = "market_close"``: ``offset_s = -300`` is 5 min before."""

    type: Literal["market_close"]
    offset_s: float = 0.0


class EveryJob(_JobSection):
    """``[[schedule]]`` with ``type = "every"``: every ``interval_s`` (in session or always)."""

    type: Literal["every"]
    interval_s: float = Field(gt=0)
    during: Literal["session", "always"] = "session"


class AtJob(_JobSection):
    """``[[schedule]]`` with ``type = "at"``: every day at ``time`` ("HH:MM") in ``tz``."""

    type: Literal["at"]
    time: str
    tz: str = "UTC"
    trading_days_only: bool = False


ScheduleEntry = Annotated[MarketOpenJob | MarketCloseJob | EveryJob | AtJob,
                          Field(discriminator="type")]
_TAGS = ("simulated", "replay", "binance_stream", "ccxt_poll", "market_open", "market_close",
         "every", "at", "paper", "ccxt", "ib", "bybit_stream", "hyperliquid_stream")


class StateSection(_Section):
    """``[state]``: crash-safe state. Without ``directory`` nothing is persisted."""

    directory: Path | None = None
    account_id: str = Field("paper", min_length=1)
    strategy_id: str | None = None  # default: the strategy path
    checkpoint_interval_s: float = Field(60.0, ge=0)
    debounce_s: float = Field(0.5, ge=0)
    keep_checkpoints: int = Field(10, ge=1)
    stale_checkpoint_s: float = Field(3600.0, gt=0)
    fall_back_to_previous: bool = True
    reconcile_policy: Literal["adopt_broker", "halt", "warn"] = "adopt_broker"
    reconcile_interval_s: float = Field(300.0, ge=0)  # live brokers; 0 = only on request
    # What changed this recently is in flight, not missing: a submit whose answer was lost
    # and never landed is closed by the first reconciliation after this long.
    reconcile_grace_s: float = Field(30.0, ge=0)
    cash_tolerance: NonNegDecimal = Decimal("0.01")


class ResilienceSection(_Section):
    """``[resilience]``: how a live (non-paper) broker is guarded.

    Retries wait ``retry_initial_s * retry_multiplier**n`` capped at ``retry_max_s``
    (1, 2, 4, 8, 16 s by default); a submit is tried at most ``submit_attempts`` times and
    only after the venue said the order is not there. Breakers trip after
    ``breaker_fail_max`` consecutive transient failures and probe after
    ``breaker_reset_timeout_s``. With ``degrade_to_paper`` an outage longer than
    ``degrade_after_s`` moves new orders to a shadow paper venue until the broker is back
    (``resume_policy``). The kill switch trips after ``kill_after_rejects`` rejects within
    ``reject_window_s``, or when equity falls ``max_drawdown`` (a fraction) below its peak.
    """

    retry_attempts: int = Field(6, ge=1)
    retry_initial_s: float = Field(1.0, ge=0)
    retry_multiplier: float = Field(2.0, ge=1)
    retry_max_s: float = Field(16.0, ge=0)
    retry_jitter_s: float = Field(0.0, ge=0)
    retry_deadline_s: float | None = Field(None, gt=0)
    submit_attempts: int = Field(3, ge=1)
    lookup_delay_s: float = Field(1.0, ge=0)  # after a failed submit, before the lookup
    breaker_fail_max: int = Field(5, ge=1)
    breaker_reset_timeout_s: float = Field(30.0, gt=0)
    submit_timeout_s: float = Field(30.0, gt=0)
    cancel_timeout_s: float = Field(10.0, gt=0)
    positions_timeout_s: float = Field(10.0, gt=0)
    account_timeout_s: float = Field(10.0, gt=0)
    connect_timeout_s: float = Field(30.0, gt=0)
    degrade_to_paper: bool = True
    degrade_after_s: float = Field(60.0, gt=0)
    probe_interval_s: float = Field(5.0, gt=0)
    resume_policy: Literal["manual", "flatten_shadow"] = "manual"
    kill_after_rejects: int | None = Field(None, ge=1)
    reject_window_s: float = Field(300.0, gt=0)
    max_drawdown: Annotated[Decimal, Field(gt=0, lt=1)] | None = None


class LoggingSection(_Section):
    """``[logging]``: ``console`` for a terminal, ``json`` for supervisord."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"


class AlertSection(_Section):
    """``[[monitoring.alerts]]``: one alert rule (see ``livetrade.monitoring.settings``)."""

    kind: Literal["breaker_opened", "rejects", "reconciliation_mismatch",
                  "reconciliation_failed", "feed_stale", "checkpoint_stale", "mode_change",
                  "drawdown", "engine_restarted"]
    severity: Literal["info", "warning", "critical"] = "warning"
    count: int = Field(5, ge=1)
    window_s: float = Field(300.0, gt=0)
    max_age_s: float = Field(120.0, gt=0)
    limit: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.1")
    modes: tuple[Literal["shadow", "halted"], ...] = ("shadow", "halted")


class WebhookSection(_Section):
    """``[[monitoring.webhooks]]``: ``url_env`` names the variable holding the URL (Slack
    and Discord URLs are secrets); ``url`` is for a local receiver with nothing secret."""

    url: str | None = None
    url_env: str | None = None
    format: Literal["json", "slack", "discord"] = "json"
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("url_env")
    @classmethod
    def _one_source(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("url_env must name an environment variable")
        return value


class MonitoringSection(_Section):
    """``[monitoring]``: metrics, hooks, alerts and the HTTP endpoint (off unless
    ``enabled``). ``http_port`` starts ``/metrics /healthz /readyz /status`` on
    ``bind_host`` (loopback unless ``allow_non_loopback``); the bearer token comes from
    the variable named by ``token_env``. No ``[[monitoring.alerts]]``: every rule, default
    thresholds."""

    enabled: bool = False
    http_port: int | None = Field(None, ge=0, le=65535)
    bind_host: str = "127.0.0.1"
    allow_non_loopback: bool = False
    token_env: str = "LIVETRADE_MONITOR_TOKEN"
    heartbeat_interval_s: float = Field(1.0, gt=0)
    liveness_timeout_s: float = Field(10.0, gt=0)
    poll_interval_s: float = Field(1.0, gt=0)
    hook_queue_size: int = Field(10_000, ge=1)
    feed_stale_s: float = Field(60.0, gt=0)
    alert_dedup_s: float = Field(600.0, ge=0)
    alerts_per_minute: int = Field(20, ge=1)
    webhook_attempts: int = Field(4, ge=1)
    webhook_retry_initial_s: float = Field(1.0, ge=0)
    marker_dir: Path | None = None  # default: [state] directory (no marker without either)
    alerts: list[AlertSection] | None = None
    webhooks: list[WebhookSection] = Field(default_factory=list)


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


# ---------------------------------------------------------------------- loading
_TABLE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_ARRAY_TABLE = re.compile(r"^\s*\[\[\s*([^\[\]]+?)\s*\]\]\s*(#.*)?$")
_KEY = re.compile(r"^\s*([A-Za-z0-9_.\-\"' ]+?)\s*=")


def _key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Map each table and key path in a TOML text to its 1-based line number.

    Good enough to point a person at the right line; not a TOML parser (the real parse is
    ``tomllib``'s, which has already succeeded when this runs).
    """
    lines: dict[tuple[str | int, ...], int] = {}
    table: tuple[str | int, ...] = ()
    counts: dict[tuple[str, ...], int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if match := _ARRAY_TABLE.match(line):
            name = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            index = counts.get(name, -1) + 1
            counts[name] = index
            table = (*name, index)
            lines.setdefault(table, number)
        elif match := _TABLE.match(line):
            table = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            lines.setdefault(table, number)
        elif match := _KEY.match(line):
            key = tuple(p.strip().strip("\"'") for p in match.group(1).split("."))
            lines.setdefault((*table, *key), number)
    return lines


def _locate(loc: tuple[str | int, ...], lines: dict[tuple[str | int, ...], int]) -> int | None:
    # Discriminated unions add the tag ("simulated") to the location; drop such parts.
    path = tuple(p for p in loc if p not in _TAGS)
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return None


_PARAM_TYPES = frozenset({"int", "bool", "str", "decimal"})
_HINTS = {
    "extra_forbidden": "remove it, or check its spelling against README.md, Configuration",
    "missing": "add it",
    "union_tag_invalid": "use one of the listed types",
    "literal_error": "use one of the listed values",
}


def format_problems(error: ValidationError, text: str, source: str) -> list[str]:
    """One line per problem: ``file:line: key.path: message (hint)``. Never shows values."""
    lines = _key_lines(text)
    problems = []
    merged: set[tuple[str | int, ...]] = set()
    for raw in error.errors(include_input=False, include_url=False):
        item: dict[str, Any] = dict(raw)
        loc = tuple(item["loc"])
        if loc and loc[-1] in _PARAM_TYPES:
            # One value failed every member of a union (strategy params): one line, not four.
            if loc[:-1] in merged:
                continue
            merged.add(loc[:-1])
            loc = loc[:-1]
            item.update(type="param_type",
                        msg="expected an integer, true/false, text or a decimal number")
        key = ".".join(str(p) for p in loc if p not in _TAGS) or "(top level)"
        line = _locate(loc, lines)
        where = f"{source}:{line}" if line is not None else source
        hint = _HINTS.get(item["type"])
        message = "unknown key" if item["type"] == "extra_forbidden" else item["msg"]
        message = message.removeprefix("Value error, ")
        problems.append(f"{where}: {key}: {message}" + (f" ({hint})" if hint else ""))
    return problems


def parse_config(text: str, source: str = "<config>") -> LiveTradeConfig:
    """Validate TOML text; raise ``ConfigError`` listing every problem."""
    try:
        raw: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problem = f"{source}: not valid TOML: {exc}"
        raise ConfigError(f"cannot parse {source}", [problem], file=source) from exc
    try:
        return LiveTradeConfig.model_validate(raw)
    except ValidationError as exc:
        problems = format_problems(exc, text, source)
        raise ConfigError(f"{len(problems)} problem(s) in {source}", problems,
                          file=source) from None


def load_config(path: str | Path) -> LiveTradeConfig:
    """Read and validate a TOML config file; raise ``ConfigError`` listing every problem."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}",
                          [f"{file}: cannot read: {exc.strerror}"], file=str(file)) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {file} is not UTF-8 text",
                          [f"{file}: byte {exc.start} is not UTF-8: is this a TOML file?"],
                          file=str(file)) from None
    return parse_config(text, str(file))
