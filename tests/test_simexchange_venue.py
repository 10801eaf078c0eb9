"""The venue core without HTTP: one set of fill rules with the PaperBroker, spot account
rules, stop-limit orders, and the random-walk and replay price sources."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from kit import md
from simkit import binance_client, running_sim, wait_until

from livetrade.brokers.paper import PaperBroker, PaperBrokerConfig
from livetrade.events import Event, OrderFill, OrderType, Side, TimeInForce
from livetrade.orders import OrderRequest
from livetrade.simexchange import SimExchangeConfig
from livetrade.simexchange.records import OrderStatus, RejectReason, VenueReject
from livetrade.simexchange.venue import Venue

D = Decimal
PATH = [("30000", "2"), ("29950", "2"), ("29890", "1"), ("30200", "4"), ("30500", "2"),
        ("29700", "6"), ("29650", "2")]
ORDERS = [  # (side, type, quantity, limit, stop)
    (Side.BUY, OrderType.LIMIT, "2", "29900", None),
    (Side.BUY, OrderType.MARKET, "1.5", None, None),
    (Side.SELL, OrderType.STOP_LIMIT, "1", "29600", "29800"),
]


def test_the_simulator_fills_exactly_like_the_paper_broker() -> None:
    """Same price path, same orders, participation 0.5: the same executions, in order."""
    paper = PaperBroker(PaperBrokerConfig(participation=D("0.5")))
    events: list[Event] = []
    paper.connect(events.append)
    venue = Venue(SimExchangeConfig(participation=D("0.5"), symbols=("BTC/USDT",),
                                    balances={"USDT": D("1000000"), "BTC": D("10")}),
                  now_ms=lambda: 0)
    price, volume = PATH[0]
    paper.on_market_data(md("BTC/USDT", price, volume=volume))
    venue.set_price("BTC/USDT", D(price), D(volume))
    for n, (side, kind, qty, limit, stop) in enumerate(ORDERS):
        paper.submit_order(f"c{n}", OrderRequest(
            "BTC/USDT", side, D(qty), kind, D(limit) if limit else None,
            D(stop) if stop else None, TimeInForce.GTC))
        venue.place_order("BTC/USDT", side, kind, D(qty), price=D(limit) if limit else None,
                          stop_price=D(stop) if stop else None, client_order_id=f"c{n}")
    for price, volume in PATH[1:]:
        paper.on_market_data(md("BTC/USDT", price, volume=volume))
        venue.set_price("BTC/USDT", D(price), D(volume))
    paper_fills = [(e.client_order_id, e.fill_price, e.fill_amount)
                   for e in events if isinstance(e, OrderFill)]
    sim_fills = [(t.client_order_id, t.price, t.quantity) for t in venue.trades()]
    assert len(sim_fills) >= 5  # partial fills of all three orders happened
    assert sim_fills == paper_fills


def fresh_venue() -> Venue:
    return Venue(SimExchangeConfig(symbols=("BTC/USDT",), commission_bps=D(10),
                                   balances={"USDT": D("10000")}), now_ms=lambda: 0)


def test_a_buy_locks_quote_and_a_fill_pays_commission_in_base() -> None:
    venue = fresh_venue()
    order, fills = venue.place_order("BTC/USDT", Side.BUY, OrderType.LIMIT, D("0.1"),
                                     price=D("29000"))
    assert fills == [] and order.status is OrderStatus.NEW
    assert venue.balances()["USDT"] == (D("7100"), D("2900"))
    venue.set_price("BTC/USDT", D("28000"))  # fills at the limit, 29000
    assert venue.balances()["USDT"] == (D("7100"), D("0"))
    assert venue.balances()["BTC"] == (D("0.09990000"), D(0))


def test_cannot_oversell_or_overspend() -> None:
    venue = fresh_venue()
    with pytest.raises(VenueReject) as sold:
        venue.place_order("BTC/USDT", Side.SELL, OrderType.MARKET, D("0.01"))
    with pytest.raises(VenueReject) as bought:
        venue.place_order("BTC/USDT", Side.BUY, OrderType.LIMIT, D("1"), price=D("10001"))
    assert sold.value.reason is bought.value.reason is RejectReason.INSUFFICIENT_BALANCE
    assert venue.orders() == [] and venue.balances()["USDT"] == (D("10000"), D(0))


def test_stop_loss_limit_through_ccxt_triggers_then_rests_as_a_limit() -> None:
    with running_sim(balances={"USDT": D("100000"), "BTC": D("1")}) as sim:
        client = binance_client(sim)
        order = client.create_order("BTC/USDT", "STOP_LOSS_LIMIT", "sell", 0.5, 29500,
                                    params={"stopPrice": 29600})
        sim.set_price("BTC/USDT", D("29700"))
        assert client.fetch_order(order["id"], "BTC/USDT")["filled"] == 0
        sim.set_price("BTC/USDT", D("29550"))  # triggers; 29550 >= limit 29500: fills
        done = client.fetch_order(order["id"], "BTC/USDT")
        assert done["status"] == "closed" and done["average"] == 29550.0


def test_random_walk_moves_prices_on_its_own() -> None:
    with running_sim(price_source="random", tick_interval_s=0.01, seed=3) as sim:
        client = binance_client(sim)
        wait_until(lambda: client.fetch_ticker("BTC/USDT")["last"] != 30000.0,
                   message="a random step")


def test_replay_steps_through_a_csv(tmp_path: Path) -> None:
    csv = tmp_path / "ticks.csv"
    csv.write_text("timestamp,symbol,price,volume\n"
                   "2024-01-02T14:30:00,BTC/USDT,30100,1\n"
                   "2024-01-02T14:30:01,BTC/USDT,30200,1\n"
                   "2024-01-02T14:30:02,BTC/USDT,oops,1\n"
                   "2024-01-02T14:30:03,BTC/USDT,30300,1\n")
    with running_sim(price_source=csv, tick_interval_s=0.01) as sim:
        client = binance_client(sim)
        wait_until(lambda: client.fetch_ticker("BTC/USDT")["last"] == 30300.0,
                   message="the last replayed row")
        closes = [c[4] for c in client.fetch_ohlcv("BTC/USDT", "1m")]
        assert closes[-1] == 30300.0
