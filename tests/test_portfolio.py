"""The portfolio: average-cost accounting in Decimal, consistent under concurrent readers."""

from __future__ import annotations

import random
import threading
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kit import D, Num, frequent_thread_switches, join_all

from livetrade.events import Side
from livetrade.portfolio import Portfolio
from livetrade.portfolio_snapshot import PortfolioSnapshot

pytestmark = pytest.mark.timeout(60)

BUY, SELL = Side.BUY, Side.SELL
INITIAL = Decimal(100_000)


def book(*fills: tuple[Side, Num, Num], commission: Num = 0) -> Portfolio:
    """A portfolio that has booked ``(side, quantity, price)`` fills of symbol "X"."""
    p = Portfolio(INITIAL)
    for side, qty, price in fills:
        p.apply_fill("X", side, D(qty), D(price), D(commission))
    return p


def identity_gap(s: PortfolioSnapshot) -> Decimal:
    """equity - (initial + realized + unrealized - commissions): zero up to rounding."""
    return s.equity - (s.initial_cash + s.realized_pnl + s.unrealized_pnl - s.commissions)


# ---------------------------------------------------------------- accounting rules

def test_a_long_position_pays_cash_and_is_marked_to_market() -> None:
    """Buying moves cash into the position; a later market price sets its value."""
    p = book((BUY, 10, 100))
    p.mark("X", D(110))
    s = p.snapshot()
    assert s.cash == INITIAL - 1_000
    assert s.quantity("X") == 10 and s.positions["X"].average_cost == 100
    assert s.unrealized_pnl == 100 and s.equity == INITIAL + 100
    assert p.equity() == s.equity


def test_average_cost_is_quantity_weighted_and_kept_on_partial_close() -> None:
    """Adding averages the cost; reducing realizes against it and leaves it unchanged."""
    p = book((BUY, 10, 100), (BUY, 30, 120))
    assert p.snapshot().positions["X"].average_cost == 115
    realized = p.apply_fill("X", SELL, D(20), D(130), D(0))
    s = p.snapshot()
    assert realized == 300 and s.realized_pnl == 300
    assert s.positions["X"].average_cost == 115 and s.quantity("X") == 20


def test_a_short_position_profits_when_bought_back_lower() -> None:
    """Selling first opens a short; buying back below the entry realizes a gain."""
    p = book((SELL, 10, 100))
    assert p.position("X") == -10
    assert p.snapshot().cash == INITIAL + 1_000
    realized = p.apply_fill("X", BUY, D(4), D(90), D(0))
    s = p.snapshot()
    assert realized == 40 and s.quantity("X") == -6
    assert s.positions["X"].average_cost == 100
    p.mark("X", D(95))
    assert p.snapshot().unrealized_pnl == 30  # -6 x (95 - 100)


def test_a_fill_through_zero_flips_the_position_at_the_fill_price() -> None:
    """Long 10 @100, sell 15 @110: realize 100 on the 10, then short 5 opened at 110."""
    p = book((BUY, 10, 100))
    realized = p.apply_fill("X", SELL, D(15), D(110), D(0))
    s = p.snapshot()
    assert realized == 100
    assert s.quantity("X") == -5 and s.positions["X"].average_cost == 110
    assert s.realized_pnl == 100
    assert identity_gap(s) == 0


def test_closing_to_flat_removes_the_position_and_keeps_its_pnl() -> None:
    """A flat position is not listed; what it made stays in realized PnL."""
    p = book((BUY, 10, 100), (SELL, 10, 105))
    s = p.snapshot()
    assert "X" not in s.positions and s.quantity("X") == 0
    assert s.realized_pnl == 50 and s.equity == INITIAL + 50


def test_commissions_come_out_of_cash_and_are_totalled_apart_from_pnl() -> None:
    """Realized PnL is gross; commission is paid from cash and summed separately."""
    p = book((BUY, 10, 100), (SELL, 10, 105), commission="1.5")
    s = p.snapshot()
    assert s.realized_pnl == 50 and s.commissions == 3
    assert s.cash == INITIAL + 50 - 3 and s.equity == INITIAL + 47


def test_a_round_trip_realizes_exactly_despite_a_repeating_average_cost() -> None:
    """Buy 1 @1, 2 @2 (average 5/3, which no Decimal holds exactly), sell 3 @3: exactly 4."""
    p = book((BUY, 1, 1), (BUY, 2, 2), (SELL, 3, 3))
    s = p.snapshot()
    assert s.realized_pnl == Decimal(4)
    assert s.equity == s.initial_cash + s.realized_pnl - s.commissions


def test_marks_use_the_last_market_price_else_the_last_fill_price() -> None:
    """Before any market price the position is marked at its latest fill; once the market
    has spoken, fills no longer move the mark."""
    p = book((BUY, 1, 100), (BUY, 1, 120))
    assert p.last_price("X") == 120
    assert p.snapshot().positions["X"].mark_price == 120
    p.mark("X", D(90))
    p.apply_fill("X", BUY, D(1), D(130), D(0))
    assert p.last_price("X") == 90
    assert p.equity() == p.snapshot().cash + 3 * 90
    assert p.last_price("Y") is None


@pytest.mark.parametrize(("qty", "price", "commission"),
                         [(0, 1, 0), (-1, 1, 0), (1, 0, 0), (1, -1, 0), (1, 1, -1)])
def test_impossible_fills_are_refused(qty: int, price: int, commission: int) -> None:
    """Zero or negative quantity or price, or negative commission, never reach the book."""
    p = Portfolio(INITIAL)
    with pytest.raises(ValueError):
        p.apply_fill("X", BUY, D(qty), D(price), D(commission))
    assert p.snapshot().cash == INITIAL and p.snapshot().commissions == 0


@pytest.mark.parametrize("cash", [Decimal("NaN"), Decimal("Infinity"), 100_000.0, 100_000])
def test_initial_cash_must_be_a_finite_decimal(cash: object) -> None:
    with pytest.raises(ValueError):
        Portfolio(cash)  # type: ignore[arg-type]


def test_snapshots_are_immutable_copies() -> None:
    """A snapshot does not follow later fills, and its positions cannot be edited."""
    p = book((BUY, 1, 100))
    s = p.snapshot()
    p.apply_fill("X", BUY, D(1), D(100), D(0))
    assert s.quantity("X") == 1
    with pytest.raises(TypeError):
        s.positions["Y"] = s.positions["X"]  # type: ignore[index]


# ---------------------------------------------------------------- property (b)

prices = st.decimals(min_value=Decimal("0.01"), max_value=Decimal(5_000), places=2)
quantities = st.one_of(st.integers(min_value=1, max_value=500).map(Decimal),
                       st.decimals(min_value=Decimal("0.001"), max_value=Decimal(50), places=3))
commissions = st.decimals(min_value=Decimal(0), max_value=Decimal(5), places=2)
symbols = st.sampled_from(["A", "B", "C"])
fills_ = st.tuples(st.just("fill"), symbols, st.sampled_from([BUY, SELL]), quantities, prices,
                   commissions)
marks = st.tuples(st.just("mark"), symbols, prices)


@given(story=st.lists(st.one_of(fills_, marks), max_size=40),
       closing_prices=st.lists(prices, min_size=3, max_size=3),
       initial=st.decimals(min_value=Decimal(0), max_value=Decimal(10**7), places=2))
def test_accounting_identities_hold_for_any_fills_and_marks(
        story: list[tuple[object, ...]], closing_prices: list[Decimal],
        initial: Decimal) -> None:
    """Property (b), against a model that shares no code with the portfolio:

    * cash, quantities and commissions are exact;
    * ``equity == cash + sum(quantity * mark)`` exactly (the mark: last market price, else last
      fill price);
    * ``equity == initial + realized + unrealized - commissions`` within 1e-12 (average
      cost divides, so it is rounded);
    * once every position is closed, realized PnL is exactly sum(sells) - sum(buys).
    """
    p = Portfolio(initial)
    cash, paid = initial, Decimal(0)
    qty: dict[str, Decimal] = {}
    mark: dict[str, Decimal] = {}
    marked_by_market: set[str] = set()
    flows = Decimal(0)  # sum(sell quantity * price) - sum(buy quantity * price)
    # A textbook average-cost book, written independently: realized PnL after every step.
    avg: dict[str, Decimal] = {}
    realized = Decimal(0)

    def textbook(symbol: str, signed: Decimal, price: Decimal) -> None:
        nonlocal realized
        held, cost = qty.get(symbol, Decimal(0)), avg.get(symbol, Decimal(0))
        if held == 0 or (held > 0) == (signed > 0):
            avg[symbol] = (abs(held) * cost + abs(signed) * price) / abs(held + signed)
            return
        closed = min(abs(signed), abs(held))
        realized += (price - cost) * closed * (1 if held > 0 else -1)
        remaining = held + signed
        if remaining == 0:
            avg[symbol] = Decimal(0)
        elif (remaining > 0) != (held > 0):
            avg[symbol] = price

    def apply(symbol: str, side: Side, q: Decimal, price: Decimal, fee: Decimal) -> None:
        nonlocal cash, paid, flows
        textbook(symbol, side.sign * q, price)
        p.apply_fill(symbol, side, q, price, fee)
        flows -= side.sign * q * price
        cash -= side.sign * q * price + fee
        paid += fee
        qty[symbol] = qty.get(symbol, Decimal(0)) + side.sign * q
        if symbol not in marked_by_market:
            mark[symbol] = price

    def check() -> None:
        s = p.snapshot()
        assert s.cash == cash and s.commissions == paid
        assert {k: v for k, v in qty.items() if v} == {k: s.quantity(k) for k in s.positions}
        expected_equity = cash + sum((q * mark[k] for k, q in qty.items()), Decimal(0))
        assert s.equity == expected_equity == p.equity()
        assert abs(identity_gap(s)) <= Decimal("1e-12")
        assert abs(s.realized_pnl - realized) <= Decimal("1e-12")

    for step in story:
        if step[0] == "fill":
            _, symbol, side, q, price, fee = step
            apply(symbol, side, q, price, fee)  # type: ignore[arg-type]
        else:
            _, symbol, price = step
            p.mark(symbol, price)  # type: ignore[arg-type]
            mark[symbol] = price  # type: ignore[index, assignment]
            marked_by_market.add(symbol)  # type: ignore[arg-type]
        check()

    for symbol, price in zip(("A", "B", "C"), closing_prices, strict=True):
        held = qty.get(symbol, Decimal(0))
        if held:
            apply(symbol, SELL if held > 0 else BUY, abs(held), price, Decimal(0))
            check()
    s = p.snapshot()
    assert dict(s.positions) == {}
    assert s.realized_pnl == flows
    assert s.equity == initial + flows - paid == s.cash


# ---------------------------------------------------------------- concurrency

def test_lock_free_equity_reads_only_ever_see_a_state_the_book_passed_through() -> None:
    """``equity()``, ``cash()`` and ``last_price()`` take no lock (a strategy reads them on
    every tick). A reader on another thread must still never see half a fill: cash already
    paid but the position not yet valued, or the reverse. The writer books fills with no
    market price (so each is marked at its own price) and notes the equity and cash after
    each; every value a reader saw must be one of those."""
    rounds = 2_000
    p = Portfolio(INITIAL)
    passed_through = {p.equity()}
    cash_passed_through = {p.cash()}
    seen: set[Decimal] = set()
    cash_seen: set[Decimal] = set()
    prices: set[Decimal | None] = set()
    done = threading.Event()
    start = threading.Barrier(3)

    def write() -> None:
        try:
            start.wait(10)
            for k in range(rounds):
                p.apply_fill("A", BUY, D(2), D(10 + k % 7), D(1))
                passed_through.add(p.equity())
                cash_passed_through.add(p.cash())
                p.apply_fill("A", SELL, D(1), D(12 + k % 5), D(1))
                passed_through.add(p.equity())
                cash_passed_through.add(p.cash())
        finally:
            done.set()

    def read() -> None:
        start.wait(10)
        while not done.is_set():
            seen.add(p.equity())
            cash_seen.add(p.cash())
            prices.add(p.last_price("A"))

    threads = [threading.Thread(target=write, daemon=True),
               threading.Thread(target=read, daemon=True),
               threading.Thread(target=read, daemon=True)]
    with frequent_thread_switches():
        for t in threads:
            t.start()
        join_all(threads, timeout_s=30)
    assert len(seen) > 1
    assert seen <= passed_through
    assert cash_seen <= cash_passed_through
    assert prices <= {None, *(D(10 + k) for k in range(7)), *(D(12 + k) for k in range(5))}
    assert p.cash() == p.snapshot().cash and p.equity() == p.snapshot().equity


def test_readers_never_see_half_a_fill_and_final_totals_are_exact() -> None:
    """One writer books N rounds of (buy 2 @10, sell 1 @12, commission 1 each) while four
    threads mark and four take snapshots. Every snapshot is a state between two fills, and
    the end state is exact."""
    rounds = 1_500
    p = Portfolio(INITIAL)
    done = threading.Event()
    torn: list[PortfolioSnapshot] = []
    seen = [0]

    def consistent(s: PortfolioSnapshot) -> bool:
        n = s.commissions  # one unit of commission per fill
        sells = s.realized_pnl / 2  # each sell realizes 12 - 10
        buys = n - sells
        return (s.quantity("A") == 2 * buys - sells
                and s.cash == INITIAL - 20 * buys + 12 * sells - n)

    start = threading.Barrier(9)  # the writer begins only once every reader is running

    def write() -> None:
        start.wait(10)
        for _ in range(rounds):
            p.apply_fill("A", BUY, D(2), D(10), D(1))
            p.apply_fill("A", SELL, D(1), D(12), D(1))
        done.set()

    def mark(seed: int) -> None:
        rng = random.Random(seed)
        start.wait(10)
        while not done.is_set():
            p.mark("A", Decimal(rng.randint(5, 15)))

    def snapshot() -> None:
        start.wait(10)
        while True:
            finished = done.is_set()
            s = p.snapshot()
            seen[0] += 1
            if not consistent(s):
                torn.append(s)
            if finished:
                break

    threads = ([threading.Thread(target=write, daemon=True)]
               + [threading.Thread(target=mark, args=(i,), daemon=True) for i in range(4)]
               + [threading.Thread(target=snapshot, daemon=True) for _ in range(4)])
    with frequent_thread_switches():
        for t in threads:
            t.start()
        join_all(threads, timeout_s=30)
    assert torn == []
    assert seen[0] > 0
    s = p.snapshot()
    assert s.quantity("A") == rounds
    assert s.cash == INITIAL - 10 * rounds
    assert s.realized_pnl == 2 * rounds and s.commissions == 2 * rounds
    last = p.last_price("A")
    assert last is not None and s.equity == s.cash + rounds * last


def test_a_fee_taken_in_the_asset_bought_shrinks_the_position_and_shows_as_a_loss() -> None:
    book = Portfolio(Decimal(1000))
    book.apply_fill("BTC/USDT", Side.BUY, Decimal(1), Decimal(100), Decimal(0),
                    fee_in_kind=Decimal("0.001"))
    assert book.position("BTC/USDT") == Decimal("0.999")
    assert book.cash() == Decimal(900)  # the venue took the fee in BTC, not in cash
    snap = book.snapshot()
    assert snap.equity == Decimal(900) + Decimal("0.999") * 100
    assert snap.realized_pnl == Decimal("-0.1")  # 0.001 BTC given away at cost
    book.apply_fill("BTC/USDT", Side.SELL, Decimal("0.999"), Decimal(110), Decimal(0))
    closed = book.snapshot()
    assert "BTC/USDT" not in closed.positions  # flat
    assert closed.cash == Decimal(900) + Decimal("0.999") * 110
    assert closed.realized_pnl == closed.cash - 1000  # exact over the whole cycle


def test_an_overwritten_position_keeps_what_its_cycle_had_realized() -> None:
    book = Portfolio(Decimal(1000))
    book.apply_fill("X", Side.BUY, Decimal(2), Decimal(100), Decimal(0))
    assert book.apply_fill("X", Side.SELL, Decimal(1), Decimal(110), Decimal(0)) == 10
    book.override_position("X", Decimal(0))  # reconciliation: the broker says flat
    book.apply_fill("X", Side.BUY, Decimal(1), Decimal(100), Decimal(0))
    assert book.apply_fill("X", Side.SELL, Decimal(1), Decimal(101), Decimal(0)) == 1
    assert book.snapshot().realized_pnl == 11


# ---------------------------------------------------------------- equity kept incrementally

overrides = st.tuples(st.just("override"), symbols,
                      st.decimals(min_value=Decimal(-500), max_value=Decimal(500), places=3))
fees_in_kind = st.tuples(st.just("fee_in_kind"), symbols, quantities, prices)
restores = st.tuples(st.just("restore"))
cash_overrides = st.tuples(st.just("cash"), st.decimals(min_value=Decimal(-10**6),
                                                         max_value=Decimal(10**6), places=2))


@given(story=st.lists(st.one_of(fills_, marks, overrides, fees_in_kind, restores,
                                cash_overrides), max_size=40))
def test_equity_is_kept_as_marks_move_yet_always_equals_a_fresh_sum(
        story: list[tuple[object, ...]]) -> None:
    """``equity()`` is O(1) (a running total), so every way the book changes (fills, fees
    taken in kind, marks, reconciliation overrides of a position or of the cash, a restore
    from a checkpoint) must keep
    it equal to the sum over the snapshot's positions, to the last digit."""
    p = Portfolio(INITIAL)
    for step in story:
        kind = step[0]
        if kind == "fill":
            _, symbol, side, q, price, fee = step
            p.apply_fill(symbol, side, q, price, fee)  # type: ignore[arg-type]
        elif kind == "mark":
            p.mark(step[1], step[2])  # type: ignore[arg-type]
        elif kind == "cash":
            p.override_cash(step[1])  # type: ignore[arg-type]
        elif kind == "override":
            p.override_position(step[1], step[2])  # type: ignore[arg-type]
        elif kind == "fee_in_kind":
            _, symbol, q, price = step
            assert isinstance(q, Decimal)
            p.apply_fill(symbol, BUY, q, price, Decimal(0),  # type: ignore[arg-type]
                         fee_in_kind=q / 100)
        else:
            restored = Portfolio(Decimal(0))
            restored.restore_state(p.export_state())
            p = restored
        s = p.snapshot()
        assert p.equity() == s.cash + sum((q.quantity * q.mark_price
                                           for q in s.positions.values()), Decimal(0))


def test_equity_agrees_with_the_snapshot_even_past_28_digits() -> None:
    """The running total is exact, but ``equity()`` is rounded in the caller's decimal
    context like ``snapshot().equity`` (and so the status line and alerts): the two never
    disagree, even with a mark whose product has more digits than the context keeps."""
    p = Portfolio(Decimal(1_000_000))
    p.apply_fill("A", BUY, Decimal("3.333"), Decimal("1234.56"), Decimal(0))
    p.mark("A", Decimal("1234.123456789123456789123"))
    assert p.equity() == p.snapshot().equity
    assert len(p.equity().as_tuple().digits) <= 28
    p.mark("A", Decimal(2))
    assert p.equity() == p.snapshot().equity == p.cash() + Decimal("3.333") * 2


def test_the_running_total_does_not_drift_through_many_digit_marks() -> None:
    """A running total kept at 28 digits would round on every many-digit mark and drift;
    after marking back to short prices the equity must be the exact short sum again."""
    p = Portfolio(Decimal(0))
    p.apply_fill("A", BUY, Decimal("12345.123456789"), Decimal("0.000000001"), Decimal(0))
    p.apply_fill("B", BUY, Decimal("0.000000001"), Decimal("98765.4321"), Decimal(0))
    for k in range(1, 200):
        p.mark("A", Decimal(f"1{k}.123456789123456789123"))
        p.mark("B", Decimal(f"9{k}.987654321987654321987"))
    p.mark("A", Decimal(2))
    p.mark("B", Decimal(3))
    assert p.equity() == p.cash() + Decimal("12345.123456789") * 2 + Decimal("0.000000001") * 3


def test_a_mark_waits_for_whoever_holds_the_book_lock_and_leaves_it_free() -> None:
    """The per-tick mark takes ``portfolio.lock`` like every other mutation (spelt out as
    acquire/release for speed): a holder of the lock, such as a checkpoint capture, sees no
    mark land until it lets go, and the mark leaves the lock free."""
    book = Portfolio(D(1000))
    book.apply_fill("X", Side.BUY, D(2), D(10), D(0))
    marked = threading.Event()

    def mark() -> None:
        book.mark("X", D(12))
        marked.set()

    with book.lock:
        worker = threading.Thread(target=mark)
        worker.start()
        assert not marked.wait(0.2)  # blocked on the lock
        assert book.last_price("X") == D(10)
    join_all([worker])
    assert marked.is_set() and book.last_price("X") == D(12)
    assert book.equity() == D(1004)  # 980 cash + 2 x 12
    assert book.lock.acquire(blocking=False)  # released by the mark
    book.lock.release()
