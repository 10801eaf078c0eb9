"""Cash, positions and PnL, in ``Decimal``, behind one ``threading.RLock``.

The dispatcher thread is the only writer (fills and marks); other threads (status line,
health endpoint, checkpoints) read through :meth:`Portfolio.snapshot`, which copies under
the lock and returns an immutable value, so a reader never sees half of a fill.

Accounting: average cost per position, long and short. Realized PnL is gross of commission;
commission is paid from cash and totalled separately, so at every instant::

    equity = cash + sum(quantity * mark)
           = initial_cash + realized_pnl + unrealized_pnl - commissions

A position is marked at the last market price seen, or at its last fill price before any.

``equity()`` is O(1): the book keeps each position's market value (``quantity * mark``) and
the equity (cash plus all of them) up to date as marks and fills arrive, exactly (an
unbounded-precision context, so the running total never drifts from a fresh sum), because
strategies read it on every tick and a sum over the whole book per tick grows with the book.

``equity()``, ``cash()`` and ``last_price()`` take no lock (it cost more than the read): each
reads one reference the writer replaces once per change, so a reader sees the value before
or after a change, never half of one. Two such reads may straddle a change; values that must
agree come from :meth:`snapshot`. ``position()`` locks: a fee in kind moves it twice.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any, NamedTuple

from livetrade.events import MarketData, Side
from livetrade.portfolio_snapshot import ZERO, PortfolioSnapshot, PositionSnapshot
from livetrade.state.chunks import ChunkedMap, sync_ordered

_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN, traps=[InvalidOperation])
"""Arithmetic that never rounds (libmpdec sizes each result to its digits): the running
market value is a sum of products of finite prices and quantities, so it stays exact."""
_mul = _EXACT.multiply
_add = _EXACT.add
_sub = _EXACT.subtract


class _Mark(NamedTuple):
    """A price to mark at, shaped like the two fields of MarketData that marking reads."""

    symbol: str
    price: Decimal


class _Position:
    """One symbol's book. ``average_cost`` divides, so it is rounded; ``flow`` and ``closed``
    are sums of products only, so they are exact.

    A *cycle* runs from flat to flat (or to a flip). Partial closes book realized PnL from
    the average cost (``booked``, rounded); when the cycle ends its realized PnL is its
    exact cash flow, so a round trip's PnL never carries the average cost's rounding.
    """

    __slots__ = ("average_cost", "booked", "closed", "flow", "quantity")

    def __init__(self) -> None:
        self.quantity = ZERO
        self.average_cost = ZERO
        self.flow = ZERO  # cash flow (-signed quantity x price) of the current cycle
        self.booked = ZERO  # realized PnL booked by partial closes in the current cycle
        self.closed = ZERO  # realized PnL of the finished cycles

    @property
    def realized_pnl(self) -> Decimal:
        return self.closed + self.booked


class Portfolio:
    """The engine's book. All money is ``Decimal``; every mutation holds ``self.lock``."""

    def __init__(self, initial_cash: Decimal) -> None:
        if not isinstance(initial_cash, Decimal) or not initial_cash.is_finite():
            raise ValueError("initial_cash must be a finite Decimal")
        self.lock = threading.RLock()
        # Bound once for the per-tick mark: acquire/try/finally/release is the same as
        # ``with self.lock`` at about half the instructions (~1.0k against ~2.0k a tick).
        self._acquire, self._release = self.lock.acquire, self.lock.release
        self._initial_cash = initial_cash
        self._cash = initial_cash
        self._positions: dict[str, _Position] = {}
        self._marks: dict[str, Decimal] = {}
        # Market value per position (quantity x mark) and the equity (cash plus all of them),
        # both exact; the equity is stored once per change (read lock-free).
        self._values: dict[str, Decimal] = {}
        self._equity = initial_cash
        # Symbols with a market price: those marked before the last capture, and since.
        self._market_marked: set[str] = set()
        self._marks_dirty: set[str] = set()
        self._commissions = ZERO
        # Checkpoint capture, incremental (O(changed), see capture_state): copy-on-write
        # maps of what the last capture handed over, and what changed since.
        self._changed: set[str] = set()
        self._export_positions: ChunkedMap[str, dict[str, Any]] = ChunkedMap(tag="positions")
        self._export_marks: ChunkedMap[str, Decimal] = ChunkedMap(tag="marks")
        self._export_marked: ChunkedMap[str, None] = ChunkedMap(tag="marked")

    def apply_fill(
        self, symbol: str, side: Side, quantity: Decimal, price: Decimal, commission: Decimal,
        *, fee_in_kind: Decimal = ZERO,
    ) -> Decimal:
        """Book one execution; return the realized PnL it produced (gross of commission).

        ``commission`` is paid from cash. ``fee_in_kind`` is a fee the venue took in the
        instrument itself (a spot exchange charging a buy's fee in the asset bought): the
        position shrinks by it as if that much were given away at price 0, so the loss
        shows in realized PnL and every accounting identity still holds.
        """
        if quantity <= 0 or price <= 0 or commission < 0 or fee_in_kind < 0:
            raise ValueError("fill needs positive quantity and price, non-negative fees")
        signed = quantity if side is Side.BUY else -quantity
        with self.lock:
            realized = self._book(symbol, signed, price)
            cash = self._cash - (signed * price + commission)
            equity = self._equity_with_cash(cash)  # stored by _revalue
            self._cash = cash
            self._commissions += commission
            if fee_in_kind:
                realized += self._book(symbol, -fee_in_kind, ZERO)
            if symbol not in self._marks_dirty and symbol not in self._market_marked:
                self._marks[symbol] = price  # no market price yet: mark at the last fill
            self._revalue(symbol, equity)
            return realized

    def _equity_with_cash(self, cash: Decimal) -> Decimal:
        """The equity as it is once the cash becomes ``cash`` (exact; not stored). Locked."""
        return _add(_sub(self._equity, self._cash), cash)

    def _revalue(self, symbol: str, equity: Decimal) -> None:
        """Bring ``symbol``'s market value up to date and store the equity: ``equity`` (the
        book's, with any cash change of this mutation already in it) moved by the change in
        that value. Locked. One store, so a lock-free reader never sees half a change."""
        pos = self._positions[symbol]
        value = _mul(pos.quantity, self._marks.get(symbol, pos.average_cost))
        self._equity = _add(_sub(equity, self._values.get(symbol, ZERO)), value)
        self._values[symbol] = value

    def _book(self, symbol: str, signed: Decimal, price: Decimal) -> Decimal:
        """Move the position by ``signed`` at ``price`` (cash is the caller's). Locked."""
        pos = self._positions.get(symbol)
        if pos is None:
            pos = self._positions[symbol] = _Position()
        self._changed.add(symbol)
        quantity = abs(signed)
        held = pos.quantity
        new_qty = held + signed
        realized = ZERO
        if held == 0 or (held > 0) == (signed > 0):
            pos.average_cost = (abs(held) * pos.average_cost + quantity * price) / abs(new_qty)
            pos.flow -= signed * price
        elif new_qty == 0 or (new_qty > 0) != (held > 0):
            # The cycle ends (flat, or flipped): its PnL is its exact cash flow.
            direction = 1 if held > 0 else -1
            cycle = pos.flow + direction * abs(held) * price
            realized = cycle - pos.booked
            pos.closed += cycle
            pos.booked = ZERO
            pos.flow = -new_qty * price  # a flipped remainder opens the next cycle
            pos.average_cost = price if new_qty != 0 else ZERO
        else:
            direction = 1 if held > 0 else -1
            realized = (price - pos.average_cost) * quantity * direction
            pos.booked += realized
            pos.flow -= signed * price
        pos.quantity = new_qty
        return realized

    def mark(self, symbol: str, price: Decimal) -> None:
        """Record the latest market price of ``symbol`` for mark-to-market."""
        self.on_market_data(_Mark(symbol, price))

    def on_market_data(self, event: MarketData | _Mark) -> None:
        """:meth:`mark` at the event's price: the dispatcher's handler for every tick
        (subscribed directly, so a tick costs one Python call here, not two)."""
        symbol = event.symbol
        price = event.price
        self._acquire()  # ``with self.lock``, spelt out (see __init__)
        try:
            self._marks[symbol] = price
            self._marks_dirty.add(symbol)  # folded into _market_marked at the next capture
            old = self._values.get(symbol)
            if old is not None:  # a position (possibly flat) exists: its value moves
                value = _mul(self._positions[symbol].quantity, price)
                self._values[symbol] = value
                self._equity = _add(_sub(self._equity, old), value)
        finally:
            self._release()

    def position(self, symbol: str) -> Decimal:
        with self.lock:  # a fee taken in kind moves the quantity twice in one fill
            pos = self._positions.get(symbol)
            return pos.quantity if pos is not None else ZERO

    def cash(self) -> Decimal:
        return self._cash  # one reference, replaced whole: no lock (module docstring)

    def last_price(self, symbol: str) -> Decimal | None:
        return self._marks.get(symbol)  # one dict read: no lock (module docstring)

    def equity(self) -> Decimal:
        """Cash plus every position at its mark. O(1) and lock-free: the writer stores the
        exact total once per change (module docstring); it is rounded here in the caller's
        decimal context, as ``snapshot().equity`` and every status figure are."""
        return +self._equity

    def snapshot(self) -> PortfolioSnapshot:
        with self.lock:
            positions = {
                symbol: PositionSnapshot(
                    symbol=symbol,
                    quantity=p.quantity,
                    average_cost=p.average_cost,
                    mark_price=self._marks.get(symbol, p.average_cost),
                    realized_pnl=p.realized_pnl,
                )
                for symbol, p in self._positions.items()
                if p.quantity != 0
            }
            return PortfolioSnapshot(
                cash=self._cash,
                initial_cash=self._initial_cash,
                positions=MappingProxyType(positions),
                # Closed cycles first, exactly; open cycles' rounded partials apart.
                realized_pnl=sum((p.closed for p in self._positions.values()), ZERO)
                + sum((p.booked for p in self._positions.values()), ZERO),
                commissions=self._commissions,
            )

    # ------------------------------------------------------------------ reconciliation
    def override_position(self, symbol: str, quantity: Decimal) -> None:
        """Set a position to the broker's quantity (reconciliation, ``adopt_broker``).

        The cash is not touched (``override_cash`` does that); the average cost becomes the
        last mark (or stays, if the direction is unchanged), since the broker's cost basis
        is not known here.
        """
        with self.lock:
            pos = self._positions.get(symbol)
            if pos is None:
                pos = self._positions[symbol] = _Position()
            self._changed.add(symbol)
            # The cycle in progress ends here: what it booked is realized for good, and
            # the overwritten position starts a new cycle (flow below) from nothing.
            pos.closed += pos.booked
            pos.booked = ZERO
            if quantity == 0:
                pos.average_cost = ZERO
            elif pos.quantity == 0 or (pos.quantity > 0) != (quantity > 0):
                pos.average_cost = self._marks.get(symbol, pos.average_cost)
            pos.quantity = quantity
            pos.flow = -quantity * pos.average_cost
            self._revalue(symbol, self._equity)

    def override_cash(self, cash: Decimal) -> None:
        with self.lock:
            self._equity = self._equity_with_cash(cash)
            self._cash = cash

    # ------------------------------------------------------------------ checkpoints
    def capture_state(self) -> dict[str, Any]:
        """The checkpoint's portfolio, in O(what changed since the last capture).

        Like :meth:`export_state`, but ``positions``, ``marks`` and ``market_marked`` are
        :class:`~livetrade.state.chunks.Chunked` views (records, ``Decimal`` marks, symbol
        keys) that are never mutated afterwards: safe to hand to the checkpoint writer
        thread without copying, and unchanged chunks are the same objects as last time.
        """
        with self.lock:
            dirty = self._marks_dirty
            if dirty:
                self._marks_dirty = set()
                for symbol in dirty - self._market_marked:
                    self._export_marked.set(symbol, None)
                self._market_marked |= dirty
            changed = self._changed
            self._changed = set()
            sync_ordered(self._export_positions, self._positions, changed, self._record)
            marks = self._marks
            for symbol in (dirty | changed) if dirty else changed:
                price = marks.get(symbol)
                if price is not None:
                    self._export_marks.set(symbol, price)
            return {
                "initial_cash": self._initial_cash,
                "cash": self._cash,
                "commissions": self._commissions,
                "positions": self._export_positions.freeze(),
                "marks": self._export_marks.freeze(),
                "market_marked": self._export_marked.freeze(),
            }

    def _record(self, symbol: str) -> dict[str, Any]:
        return _position_record(symbol, self._positions[symbol])

    def export_state(self) -> dict[str, Any]:
        """Everything needed to rebuild this book exactly, as plain lists and dicts.

        Fresh containers of immutable values (``Decimal``, ``str``); the position dicts
        are shared with earlier exports and captures and never mutated. O(book): the
        checkpoint path uses :meth:`capture_state`.
        """
        state = self.capture_state()
        return {**state, "positions": list(state["positions"].values()),
                "marks": dict(state["marks"].items()),
                "market_marked": list(state["market_marked"].keys())}

    def restore_state(self, state: Mapping[str, Any]) -> None:
        """Replace the whole book with ``state`` from :meth:`export_state`.

        Everything is parsed before anything is replaced, so a bad ``state`` raises and
        leaves the book as it was.
        """
        positions: dict[str, _Position] = {}
        for item in state["positions"]:
            pos = _Position()
            pos.quantity = Decimal(item["quantity"])
            pos.average_cost = Decimal(item["average_cost"])
            pos.flow = Decimal(item["flow"])
            pos.booked = Decimal(item["booked"])
            pos.closed = Decimal(item["closed"])
            positions[str(item["symbol"])] = pos
        marks = {str(k): Decimal(v) for k, v in state["marks"].items()}
        market_marked = {str(s) for s in state["market_marked"]}
        initial = Decimal(state["initial_cash"])
        cash = Decimal(state["cash"])
        commissions = Decimal(state["commissions"])
        # The export maps are built here, before the engine runs, so that the first
        # capture after a restore is as cheap as any other.
        export_positions: ChunkedMap[str, dict[str, Any]] = ChunkedMap(tag="positions")
        for symbol, p in positions.items():
            export_positions.set(symbol, _position_record(symbol, p))
        export_marks: ChunkedMap[str, Decimal] = ChunkedMap(tag="marks")
        for symbol, price in marks.items():
            export_marks.set(symbol, price)
        export_marked: ChunkedMap[str, None] = ChunkedMap(tag="marked")
        for symbol in market_marked:
            export_marked.set(symbol, None)
        values = {symbol: _mul(p.quantity, marks.get(symbol, p.average_cost))
                  for symbol, p in positions.items()}
        total = ZERO
        for value in values.values():
            total = _add(total, value)
        with self.lock:
            self._initial_cash, self._cash, self._commissions = initial, cash, commissions
            self._positions = positions
            self._marks = marks
            self._values = values
            self._equity = _add(cash, total)
            self._market_marked = market_marked
            self._marks_dirty = set()
            self._export_positions = export_positions
            self._export_marks = export_marks
            self._export_marked = export_marked
            self._changed = set()


def _position_record(symbol: str, p: _Position) -> dict[str, Any]:
    """A position as the checkpoint's plain record (never mutated once made)."""
    return {"symbol": symbol, "quantity": p.quantity, "average_cost": p.average_cost,
            "flow": p.flow, "booked": p.booked, "closed": p.closed}
