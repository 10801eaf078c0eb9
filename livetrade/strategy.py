"""The strategy API: a plain class with callbacks, and the context it trades through.

A strategy never touches threads, locks or brokers. Callbacks run one at a time (on the
dispatcher thread; ``on_start``/``on_stop`` on the thread that starts/stops the engine while
the dispatcher is not running), so a strategy's own attributes need no locking. It acts only
through ``self.ctx`` (a :class:`StrategyContext`), bound by the engine before
``on_start``. An exception in a callback is caught by the engine, logged, and delivered
back as a ``SystemErrorEvent`` to ``on_error``; the engine keeps running.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from livetrade.errors import EngineStateError, InvalidOrderError
from livetrade.events import (
    MarketData,
    OrderFill,
    OrderReject,
    OrderType,
    ScheduledTrigger,
    Side,
    SystemErrorEvent,
    TimeInForce,
)
from livetrade.orders import OrderRequest, OrderSnapshot
from livetrade.portfolio_snapshot import PortfolioSnapshot

if TYPE_CHECKING:
    from livetrade.clock import Clock
    from livetrade.order_manager import OrderManager
    from livetrade.portfolio import Portfolio
    from livetrade.scheduling.facade import StrategySchedule


def _decimal(value: Decimal | int | str | None, name: str) -> Decimal | None:
    """Accept ints and strings for convenience; refuse floats (they carry binary error)."""
    if value is None or isinstance(value, Decimal):
        return value
    if isinstance(value, (bool, float)):
        raise TypeError(f"{name} must be a Decimal, int or str, not {type(value).__name__}")
    return Decimal(value)


class StrategyContext:
    """What a strategy may do: submit and cancel orders, read the book and the clock.

    Methods are called from strategy callbacks. ``submit_order`` returns the client order
    id of any well-formed order; a refusal arrives in ``on_reject`` (see its docstring for
    the one case that raises).
    """

    def __init__(self, orders: OrderManager, portfolio: Portfolio, clock: Clock,
                 schedule: StrategySchedule | None = None) -> None:
        self._orders = orders
        self._portfolio = portfolio
        self._clock = clock
        self._schedule = schedule

    @property
    def schedule(self) -> StrategySchedule:
        """Register scheduled triggers (market open/close, intervals, times of day)."""
        if self._schedule is None:
            raise EngineStateError("this engine has no scheduler")
        return self._schedule

    def submit_order(
        self,
        symbol: str,
        side: Side | str,
        quantity: Decimal | int | str,
        order_type: OrderType | str = OrderType.MARKET,
        *,
        limit_price: Decimal | int | str | None = None,
        stop_price: Decimal | int | str | None = None,
        time_in_force: TimeInForce | str = TimeInForce.GTC,
    ) -> str:
        """Submit an order; return its client order id. Market, limit, stop, stop-limit.

        A call that does not describe an order at all (a float quantity, ``"abc"``, an
        unknown side or type) raises ``InvalidOrderError`` at once: that is a bug in the
        strategy. A well-formed order that is refused (non-positive quantity, a risk limit,
        the broker) returns its id and comes back in ``on_reject``.
        """
        try:
            qty = _decimal(quantity, "quantity")
            assert qty is not None
            # Enum members (the usual case) skip the enum's value look-up.
            request = OrderRequest(
                symbol=symbol,
                side=side if type(side) is Side else Side(side),
                quantity=qty,
                order_type=(order_type if type(order_type) is OrderType
                            else OrderType(order_type)),
                limit_price=_decimal(limit_price, "limit_price"),
                stop_price=_decimal(stop_price, "stop_price"),
                time_in_force=(time_in_force if type(time_in_force) is TimeInForce
                               else TimeInForce(time_in_force)),
            )
        except (TypeError, ValueError, ArithmeticError) as exc:
            raise InvalidOrderError(f"not an order: {exc}", symbol=symbol) from None
        return self._orders.submit(request)

    def buy(self, symbol: str, quantity: Decimal | int | str, **kwargs: Any) -> str:
        """Shorthand for ``submit_order(symbol, "buy", quantity, ...)``."""
        return self.submit_order(symbol, Side.BUY, quantity, **kwargs)

    def sell(self, symbol: str, quantity: Decimal | int | str, **kwargs: Any) -> str:
        """Shorthand for ``submit_order(symbol, "sell", quantity, ...)``."""
        return self.submit_order(symbol, Side.SELL, quantity, **kwargs)

    def cancel_order(self, client_order_id: str) -> bool:
        """Request a cancel; ``False`` if the order is not open. The result is an event."""
        return self._orders.cancel(client_order_id)

    def cancel_all(self) -> int:
        return self._orders.cancel_all()

    @property
    def portfolio(self) -> PortfolioSnapshot:
        """An immutable snapshot of cash, positions and PnL."""
        return self._portfolio.snapshot()

    def position(self, symbol: str) -> Decimal:
        return self._portfolio.position(symbol)

    def equity(self) -> Decimal:
        """Cash plus positions at their marks; much cheaper than ``portfolio.equity``."""
        return self._portfolio.equity()

    def cash(self) -> Decimal:
        return self._portfolio.cash()

    def last_price(self, symbol: str) -> Decimal | None:
        return self._portfolio.last_price(symbol)

    def open_orders(self) -> tuple[OrderSnapshot, ...]:
        return self._orders.open_orders()

    def order(self, client_order_id: str) -> OrderSnapshot | None:
        return self._orders.get(client_order_id)

    def now(self) -> datetime:
        """The engine clock (wall time live, data time in a replay)."""
        return self._clock.now()


class Strategy:
    """Base class for strategies; override the callbacks you need. All are optional.

    ``get_state``/``set_state`` round-trip whatever the strategy needs to resume after a
    restart (JSON-friendly values: numbers, strings, lists, dicts, Decimals as strings).
    """

    ctx: StrategyContext

    def bind(self, ctx: StrategyContext) -> None:
        """Called by the engine before ``on_start``."""
        self.ctx = ctx

    def on_start(self) -> None:
        """The engine is up; feeds start after this returns."""

    def on_market_data(self, event: MarketData) -> None:
        """A tick or bar arrived."""

    def on_fill(self, fill: OrderFill) -> None:
        """One of our orders (partially) executed; the portfolio already includes it."""

    def on_reject(self, reject: OrderReject) -> None:
        """An order was refused by a risk check or the broker."""

    def on_schedule(self, trigger: ScheduledTrigger) -> None:
        """A scheduled trigger came due."""

    def on_error(self, error: SystemErrorEvent) -> None:
        """Something went wrong (including an exception in one of these callbacks)."""

    def on_stop(self) -> None:
        """The engine is stopping; orders can still be submitted and will be processed."""

    def get_state(self) -> dict[str, Any]:
        return {}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore what ``get_state`` returned."""
