"""The engine in synchronous drive mode: every effect of an event happens inside process()."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from kit import D, RecordingStrategy, at, bar, md, sync_engine

from livetrade.brokers.paper import PaperBrokerConfig
from livetrade.engine import EngineSettings
from livetrade.errors import EngineStateError
from livetrade.events import MarketData, OrderFill, OrderReject, OrderType, SystemErrorEvent
from livetrade.logs import configure_logging
from livetrade.orders import OrderStatus
from livetrade.risk import RiskLimits

pytestmark = pytest.mark.timeout(30)


def buy_on_first_bar(quantity: int = 10) -> RecordingStrategy:
    """A strategy that sends one market buy while handling the first bar."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.buy(event.symbol, quantity)

    return RecordingStrategy(on_bar)


def test_a_market_order_sent_on_bar_t_fills_at_bar_t_before_bar_t_plus_1() -> None:
    """Both bars are queued together; the fill (higher priority than market data) reaches
    the strategy between them, at the first bar's close."""
    strategy = buy_on_first_bar()
    engine, _ = sync_engine(strategy)
    first = bar(open=100, high=102, low=99, close=101, ts=at(60))
    second = bar(open=110, high=111, low=109, close=110, ts=at(120))
    engine.process(first, second)
    assert strategy.names == ["start", "market_data", "fill", "market_data"]
    [fill] = strategy.of("fill")
    assert fill.fill_price == 101 and fill.fill_amount == 10
    assert engine.portfolio.position("AAPL") == 10
    assert engine.context.portfolio.cash == Decimal(100_000) - 1_010


def test_the_data_clock_follows_market_data() -> None:
    """With a ManualClock the engine's time is the data's: fills carry the bar's time."""
    strategy = buy_on_first_bar()
    engine, _ = sync_engine(strategy)
    engine.process(md(price=50, ts=at(3_600)))
    assert engine.clock.now() == at(3_600)
    assert strategy.of("fill")[0].timestamp == at(3_600)


def test_a_raising_strategy_gets_on_error_and_the_engine_keeps_going() -> None:
    """An exception in on_market_data becomes a SystemErrorEvent delivered to on_error;
    the next event is still processed and the engine still trades."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if event.price == 1:
            raise ZeroDivisionError("strategy bug")
        s.ctx.buy(event.symbol, 1)

    strategy = RecordingStrategy(on_bar)
    engine, _ = sync_engine(strategy)
    engine.process(md(price=1, ts=at(1)), md(price=2, ts=at(2)))
    assert strategy.names == ["start", "market_data", "error", "market_data", "fill"]
    [error] = strategy.of("error")
    assert isinstance(error, SystemErrorEvent)
    assert (error.error_type, error.message, error.source) == (
        "ZeroDivisionError", "strategy bug", "strategy.on_market_data")
    assert engine.status().handler_errors == 1
    assert engine.portfolio.position("AAPL") == 1


def test_kill_switch_cancels_open_orders_and_blocks_new_ones() -> None:
    """Engaging sends a cancel for the resting order; afterwards every order the strategy
    tries is rejected with the switch's reason and never reaches the broker."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy(event.symbol, 1, order_type=OrderType.LIMIT, limit_price=50)

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)))
    [resting] = engine.context.open_orders()
    assert engine.engage_kill_switch("drawdown limit") == 1
    engine.process()  # deliver the broker's cancel confirmation
    order = engine.context.order(resting.client_order_id)
    assert order is not None and order.status is OrderStatus.CANCELED
    assert broker.get_open_orders() == []

    engine.process(md(price=40, ts=at(2)))
    [reject] = strategy.of("reject")
    assert reject.reason == "risk check failed: kill switch engaged: drawdown limit"
    assert broker.submitted == [resting.client_order_id]
    assert engine.context.open_orders() == ()
    assert strategy.of("fill") == []


def test_a_duplicate_fill_is_booked_once() -> None:
    """A re-sent fill (same fill id) moves neither the book nor the strategy."""
    strategy = buy_on_first_bar(5)
    engine, _ = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)))
    [fill] = strategy.of("fill")
    cash = engine.portfolio.snapshot().cash
    engine.process(fill)
    engine.process(fill.model_copy())
    assert engine.portfolio.position("AAPL") == 5
    assert engine.portfolio.snapshot().cash == cash
    assert len(strategy.of("fill")) == 1
    assert engine.orders.stats().duplicate_fills == 2


@pytest.mark.parametrize("quantity", [0, -3, "NaN"])
def test_a_bad_quantity_becomes_an_order_reject_and_nothing_is_sent(
        quantity: int | str) -> None:
    """The strategy's bad order does not raise into it: on_reject gets the reason, the
    broker never hears of it, and the book is untouched."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy(event.symbol, quantity)

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)))
    assert strategy.names == ["start", "market_data", "reject"]
    [reject] = strategy.of("reject")
    assert isinstance(reject, OrderReject)
    assert reject.reason.startswith("invalid order: quantity must be a positive finite number")
    assert broker.submitted == []
    assert engine.portfolio.snapshot().cash == Decimal(100_000)
    assert engine.status().orders_rejected == 1 and engine.status().orders_submitted == 0


def test_a_float_quantity_is_a_strategy_error_not_an_order() -> None:
    """Floats carry binary error, so the context refuses them outright (InvalidOrderError)."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy(event.symbol, 1.5)  # type: ignore[arg-type]

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)))
    [error] = strategy.of("error")
    assert error.error_type == "InvalidOrderError"
    assert broker.submitted == []


def test_a_risk_limit_rejects_before_the_broker() -> None:
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy(event.symbol, 20)

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy, risk_limits=RiskLimits(max_order_quantity=D(10)))
    engine.process(md(price=100, ts=at(1)))
    assert "exceeds max_order_quantity 10" in strategy.of("reject")[0].reason
    assert broker.submitted == []


def test_a_broker_refusal_reaches_on_reject() -> None:
    """A symbol the paper venue does not trade: the broker's refusal is an OrderReject."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        s.ctx.buy("MSFT", 1)

    strategy = RecordingStrategy(on_bar)
    engine, broker = sync_engine(strategy, broker_config=PaperBrokerConfig(symbols=("AAPL",)))
    engine.process(md(price=100, ts=at(1)))
    [reject] = strategy.of("reject")
    assert reject.reason.startswith("broker refused: unknown symbol 'MSFT'")
    assert broker.submitted == ["t-1"] and engine.context.open_orders() == ()


def test_a_resting_limit_fills_at_its_limit_on_the_bar_that_reaches_it() -> None:
    """The broker matches resting orders against each bar; the fill is delivered right
    after that bar, before the next one."""
    def on_bar(s: RecordingStrategy, event: MarketData) -> None:
        if len(s.of("market_data")) == 1:
            s.ctx.buy(event.symbol, 3, order_type="limit", limit_price=95)

    strategy = RecordingStrategy(on_bar)
    engine, _ = sync_engine(strategy)
    engine.process(md(price=100, ts=at(1)), md(price=96, ts=at(2)), md(price=94, ts=at(3)),
                   md(price=90, ts=at(4)))
    assert strategy.names == ["start", "market_data", "market_data", "market_data", "fill",
                              "market_data"]
    assert strategy.of("fill")[0].fill_price == 95
    assert engine.portfolio.position("AAPL") == 3


def test_lifecycle_is_enforced() -> None:
    """process() before start, or start twice, is an error; stop runs on_stop once."""
    strategy = RecordingStrategy()
    engine, _ = sync_engine(strategy)
    with pytest.raises(EngineStateError):
        engine.start_sync()
    report = engine.stop_sync()
    assert strategy.names == ["start", "stop"]
    assert report.clean and report.undelivered == () and report.open_orders == 0
    with pytest.raises(EngineStateError):
        engine.process(md())


def test_status_reflects_the_book_and_the_dispatcher() -> None:
    strategy = buy_on_first_bar(2)
    engine, _ = sync_engine(strategy, settings=EngineSettings(market_data_policy="unbounded"))
    engine.process(md(price=100, ts=at(1)), md(price=110, ts=at(2)))
    status = engine.status()
    assert status.state == "running_sync"
    assert status.positions == {"AAPL": 2}
    assert status.equity == Decimal(100_000) + 20
    assert status.fills == 1 and status.orders_submitted == 1
    assert status.events_dispatched == 4  # 2 ticks, the ack, the fill
    assert isinstance(strategy.of("fill")[0], OrderFill)


@pytest.mark.parametrize("level", ["info", "warning"])
def test_per_order_info_lines_are_written_at_info_and_skipped_above(level: str) -> None:
    """The order path asks the level filter before building its per-order lines: at info
    they are written with every key, at warning neither appears."""
    out = io.StringIO()
    configure_logging("json", level, stream=out, background=False)
    engine, _ = sync_engine(buy_on_first_bar(quantity=3))
    engine.process(md("AAPL", 101, ts=at(60)))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    by_event = {line["event"]: line for line in lines}
    if level == "warning":
        assert "order_submitted" not in by_event and "fill" not in by_event
        return
    submitted, fill = by_event["order_submitted"], by_event["fill"]
    assert {k: submitted[k] for k in submitted if k not in ("timestamp",)} == {
        "event": "order_submitted", "level": "info", "client_order_id": "t-1",
        "symbol": "AAPL", "side": "buy", "quantity": "3", "order_type": "market"}
    assert {k: fill[k] for k in fill if k not in ("timestamp",)} == {
        "event": "fill", "level": "info", "client_order_id": "t-1", "symbol": "AAPL",
        "side": "buy", "quantity": "3", "price": "101", "commission": "0"}
