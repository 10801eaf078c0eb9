"""Building an engine from a validated config: the one place config meets components."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal

import structlog

from livetrade.brokers.base import BrokerAdapter
from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.clock import Clock, SystemClock
from livetrade.config import (
    BinanceStreamFeedSection,
    BrokerSection,
    BybitStreamFeedSection,
    CCXTBrokerSection,
    CCXTPollingFeedSection,
    EveryJob,
    FeedSection,
    HyperliquidStreamFeedSection,
    IBBrokerSection,
    LiveTradeConfig,
    MarketCloseJob,
    MarketOpenJob,
    ResilienceSection,
    SimulatedFeedSection,
    unused_settings,
)
from livetrade.engine import EngineSettings, LiveTradingEngine
from livetrade.errors import ConfigError
from livetrade.events import Event, MarketData, OrderReject
from livetrade.feeds.base import DataFeed
from livetrade.feeds.replay import ReplayFeed
from livetrade.feeds.simulated import SimulatedFeed
from livetrade.loader import load_strategy
from livetrade.monitoring import EngineMonitor
from livetrade.monitoring.config import monitoring_settings
from livetrade.orders import ClientOrderIdGenerator, run_prefix
from livetrade.resilience import BreakerSettings, RetryPolicy
from livetrade.resilience.guarded import ResilienceSettings, ResilientBroker
from livetrade.resilience.shadow import DegradeSettings, ShadowingBroker
from livetrade.resilience.tripwires import TripWires
from livetrade.risk import RiskLimits
from livetrade.scheduling import DiskcacheFiredStore, TradingScheduler
from livetrade.state.manager import StateManager, StateSettings

_log = structlog.get_logger("livetrade.app")


def build_feed(section: FeedSection, clock: Clock) -> DataFeed:
    """The feed a ``[[feeds]]`` table describes. Venue feeds load lazily."""
    if isinstance(section, BinanceStreamFeedSection):
        from livetrade.feeds.binance_stream import binance_feed_from_section
        return binance_feed_from_section(section, clock)
    if isinstance(section, BybitStreamFeedSection):
        from livetrade.feeds.bybit_stream import bybit_feed_from_section
        return bybit_feed_from_section(section, clock)
    if isinstance(section, HyperliquidStreamFeedSection):
        from livetrade.feeds.hyperliquid_stream import hyperliquid_feed_from_section
        return hyperliquid_feed_from_section(section, clock)
    if isinstance(section, CCXTPollingFeedSection):
        from livetrade.feeds.ccxt_polling import ccxt_polling_feed_from_section
        return ccxt_polling_feed_from_section(section, clock)
    if isinstance(section, SimulatedFeedSection):
        return SimulatedFeed(section.symbols, rate_hz=section.rate_hz, seed=section.seed,
                             start_price=section.start_price,
                             volatility_bps=section.volatility_bps,
                             tick_size=section.tick_size, max_events=section.max_events,
                             clock=clock)
    return ReplayFeed(section.path, symbol=section.symbol, speed=section.speed,
                      on_bad_row=section.on_bad_row, clock=clock)


def build_scheduler(config: LiveTradeConfig, clock: Clock,
                    publish: Callable[[Event], None]) -> TradingScheduler:
    """The scheduler with the jobs declared in ``[[schedule]]``; raises ``ConfigError``."""
    section = config.scheduler
    store_dir = section.store_dir
    if store_dir is None and config.state.directory is not None:
        # With crash-safe state, fired triggers are remembered too (never twice after a
        # restart); they live beside the checkpoints, so `state reset` moves them as well.
        store_dir = config.state.directory / "scheduler"
    store = DiskcacheFiredStore(store_dir) if store_dir is not None else None
    scheduler = TradingScheduler(clock, publish, store=store,
                                 poll_interval_s=section.poll_interval_s,
                                 default_calendar=section.default_calendar)
    problems = []
    for i, job in enumerate(config.schedule):
        try:
            if isinstance(job, MarketOpenJob):
                scheduler.market_open(timedelta(seconds=job.offset_s), name=job.name,
                                      calendar=job.calendar, missed=job.missed,
                                      grace_s=job.grace_s)
            elif isinstance(job, MarketCloseJob):
                scheduler.market_close(timedelta(seconds=job.offset_s), name=job.name,
                                       calendar=job.calendar, missed=job.missed,
                                       grace_s=job.grace_s)
            elif isinstance(job, EveryJob):
                scheduler.every(timedelta(seconds=job.interval_s), during=job.during,
                                name=job.name, calendar=job.calendar, missed=job.missed,
                                grace_s=job.grace_s)
            else:
                scheduler.at(job.time, job.tz, trading_days_only=job.trading_days_only,
                             name=job.name, calendar=job.calendar, missed=job.missed,
                             grace_s=job.grace_s)
        except ConfigError as exc:
            problems.append(f"schedule.{i}: {exc.message}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in [[schedule]]", problems)
    return scheduler


def state_settings(config: LiveTradeConfig) -> StateSettings | None:
    s = config.state
    if s.directory is None:
        return None
    return StateSettings(directory=s.directory, account_id=s.account_id,
                         strategy_id=s.strategy_id or config.strategy.path,
                         checkpoint_interval_s=s.checkpoint_interval_s,
                         debounce_s=s.debounce_s, keep_checkpoints=s.keep_checkpoints,
                         stale_checkpoint_s=s.stale_checkpoint_s,
                         fall_back_to_previous=s.fall_back_to_previous,
                         reconcile_policy=s.reconcile_policy, cash_tolerance=s.cash_tolerance)


def build_broker(section: BrokerSection, clock: Clock) -> BrokerAdapter:
    """The broker adapter a ``[broker]`` section describes. Venue modules load lazily."""
    if isinstance(section, CCXTBrokerSection):
        from livetrade.brokers.ccxt.factory import ccxt_adapter_from_section
        return ccxt_adapter_from_section(section, clock)
    if isinstance(section, IBBrokerSection):
        from livetrade.brokers.ib.adapter import ib_adapter_from_section
        return ib_adapter_from_section(section, clock)
    b = section
    return PaperBroker(
        PaperBrokerConfig(initial_cash=b.initial_cash, currency=b.currency,
                          slippage_bps=b.slippage_bps, commission_bps=b.commission_bps,
                          commission_per_order=b.commission_per_order,
                          participation=b.participation, symbols=tuple(b.symbols),
                          fill_history=b.fill_history,
                          closed_order_history=b.closed_order_history),
        clock=clock,
        store_dir=b.store_dir,
    )


def guard_broker(broker: BrokerAdapter, section: ResilienceSection, clock: Clock
                 ) -> BrokerAdapter:
    """A live broker wrapped in retries, breakers and deadlines (and shadow mode when
    ``degrade_to_paper``); an inline broker (the paper broker) as it is: it does no I/O
    that could fail, and wrapping it would move it off the dispatcher thread."""
    if broker.inline:
        return broker
    r = section
    settings = ResilienceSettings(
        retry=RetryPolicy(attempts=r.retry_attempts, initial_s=r.retry_initial_s,
                          multiplier=r.retry_multiplier, max_s=r.retry_max_s,
                          jitter_s=r.retry_jitter_s, deadline_s=r.retry_deadline_s),
        submit_retry=RetryPolicy(attempts=r.submit_attempts, initial_s=r.retry_initial_s,
                                 multiplier=r.retry_multiplier, max_s=r.retry_max_s,
                                 jitter_s=r.retry_jitter_s),
        breakers=BreakerSettings(fail_max=r.breaker_fail_max,
                                 reset_timeout_s=r.breaker_reset_timeout_s),
        submit_timeout_s=r.submit_timeout_s, cancel_timeout_s=r.cancel_timeout_s,
        positions_timeout_s=r.positions_timeout_s, account_timeout_s=r.account_timeout_s,
        connect_timeout_s=r.connect_timeout_s, lookup_delay_s=r.lookup_delay_s)
    live = ResilientBroker(broker, settings, clock=clock)
    if not r.degrade_to_paper:
        return live
    # The shadow venue's own account is irrelevant (the engine books shadow fills on its
    # own book); it only needs the same prices, which it gets from the engine's feeds.
    shadow = PaperBroker(PaperBrokerConfig(initial_cash=Decimal(10) ** 12), clock=clock)
    return ShadowingBroker(live, shadow, DegradeSettings(
        degrade_after_s=r.degrade_after_s, probe_interval_s=r.probe_interval_s,
        resume_policy=r.resume_policy), clock=clock)


def build_engine(config: LiveTradeConfig, clock: Clock | None = None) -> LiveTradingEngine:
    """Wire strategy, broker, feeds, risk limits and settings from ``config``."""
    clock = clock or SystemClock()
    for note in unused_settings(config):
        _log.warning("config_setting_unused", detail=note)
    broker = guard_broker(build_broker(config.broker, clock), config.resilience, clock)
    e = config.engine
    r = config.risk
    prefix = e.order_id_prefix or run_prefix()
    # The scheduler publishes into the engine's dispatcher, which the engine creates:
    # hand it a trampoline that is bound once the engine exists.
    engines: list[LiveTradingEngine] = []

    def publish(event: Event) -> None:
        engines[0].publish(event)

    scheduler = build_scheduler(config, clock, publish)
    engine = LiveTradingEngine(
        load_strategy(config.strategy.path, dict(config.strategy.params)),
        broker=broker,
        feeds=[build_feed(f, clock) for f in config.feeds],
        clock=clock,
        settings=EngineSettings(market_data_policy=e.market_data_policy,
                                conflate_depth=e.conflate_depth,
                                max_pending_market_data=e.max_pending_market_data,
                                stop_timeout_s=e.stop_timeout_s,
                                closed_orders_kept=e.closed_orders_kept,
                                gc_tuning=e.gc_tuning,
                                switch_interval_s=e.switch_interval_s,
                                reconcile_interval_s=config.state.reconcile_interval_s,
                                reconcile_policy=config.state.reconcile_policy,
                                reconcile_grace_s=config.state.reconcile_grace_s,
                                cash_tolerance=config.state.cash_tolerance),
        risk_limits=RiskLimits(r.max_order_quantity, r.max_order_notional,
                               r.max_position_quantity, r.max_open_orders,
                               r.max_orders_per_second),
        order_ids=ClientOrderIdGenerator(prefix),
        scheduler=scheduler,
        state=StateManager(settings, clock) if (settings := state_settings(config)) else None,
        monitor=(EngineMonitor(monitoring_settings(config), marker_dir=config.state.directory)
                 if config.monitoring.enabled else None),
    )
    engines.append(engine)
    res = config.resilience
    if res.kill_after_rejects is not None or res.max_drawdown is not None:
        wires = TripWires(kill=engine.engage_kill_switch, clock=clock,
                          equity=engine.portfolio.equity, max_rejects=res.kill_after_rejects,
                          reject_window_s=res.reject_window_s, max_drawdown=res.max_drawdown,
                          engaged=lambda: engine.kill_switch.engaged)
        engine.dispatcher.subscribe(OrderReject, wires.on_reject, "tripwires.reject")
        engine.dispatcher.subscribe(MarketData, wires.on_market_data, "tripwires.drawdown")
    return engine
