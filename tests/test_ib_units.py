"""The IB adapter's pure parts: error-code table, contract specs, config, translation."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from livetrade.app import build_broker
from livetrade.brokers.ib.adapter import IBAdapter, load_library
from livetrade.brokers.ib.codes import CODES, CodeKind, classify, error_for
from livetrade.brokers.ib.contracts import ContractBook, ContractSpec, spec_table
from livetrade.brokers.ib.translate import dec, ib_order, request_of
from livetrade.clock import SystemClock
from livetrade.config import IBBrokerSection, load_config
from livetrade.errors import (
    ConfigError,
    OrderRejectedError,
    PermanentBrokerError,
    TransientBrokerError,
)
from livetrade.events import OrderType, Side, TimeInForce
from livetrade.orders import OrderRequest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.parametrize(("code", "kind"), [
    (1100, CodeKind.LINK_LOST), (1101, CodeKind.RESTORED_DATA_LOST),
    (1102, CodeKind.RESTORED_DATA_KEPT), (2110, CodeKind.TRANSIENT), (1300, CodeKind.TRANSIENT),
    (100, CodeKind.PACING), (162, CodeKind.PACING), (201, CodeKind.ORDER_REJECTED),
    (200, CodeKind.ORDER_REJECTED), (110, CodeKind.ORDER_REJECTED),
    (10147, CodeKind.CANCEL_REJECTED), (202, CodeKind.INFO), (2104, CodeKind.INFO),
    (2199, CodeKind.INFO), (326, CodeKind.PERMANENT), (99999, CodeKind.PERMANENT),
])
def test_ib_codes_are_classified(code: int, kind: CodeKind) -> None:
    assert classify(code) is kind


def test_error_for_maps_kinds_onto_the_error_tree() -> None:
    rejected = error_for(201, "Order rejected", client_order_id="c1")
    assert isinstance(rejected, OrderRejectedError)
    assert rejected.context == {"ib_code": 201, "client_order_id": "c1"}
    pacing = error_for(100, "Max rate of messages per second has been exceeded")
    assert isinstance(pacing, TransientBrokerError) and pacing.retry_after_s == 1.0
    assert isinstance(error_for(1100, "lost"), TransientBrokerError)
    permanent = error_for(326, "client id in use")
    assert isinstance(permanent, PermanentBrokerError)
    assert not isinstance(permanent, OrderRejectedError)


def test_every_table_entry_has_a_description() -> None:
    assert all(text for _, text in CODES.values())


def test_contract_specs_parse_stocks_futures_forex_and_crypto() -> None:
    assert ContractSpec.parse("AAPL:STK:SMART:USD") == ContractSpec("AAPL", "STK", "SMART",
                                                                    "USD")
    future = ContractSpec.parse("ES:FUT:CME:USD:202612:50")
    assert (future.expiry, future.multiplier) == ("202612", "50")
    assert ContractSpec.parse("BTC:CRYPTO:PAXOS:USD").sec_type == "CRYPTO"
    with pytest.raises(ConfigError):
        ContractSpec.parse("AAPL:STK")


def test_spec_table_combines_symbols_and_the_contracts_table() -> None:
    table = spec_table(["AAPL", "MSFT:STK:ISLAND:USD"], {"EURUSD": "EUR:CASH:IDEALPRO:USD"},
                       "SMART", "USD")
    assert table["AAPL"] == ContractSpec("AAPL", "STK", "SMART", "USD")
    assert table["MSFT"].exchange == "ISLAND"
    assert table["EURUSD"].sec_type == "CASH"


def test_contract_book_maps_conids_back_to_engine_symbols() -> None:
    lib = load_library("ib_insync")
    book = ContractBook({"EURUSD": ContractSpec.parse("EUR:CASH:IDEALPRO:USD")}, "SMART", "USD")
    qualified = lib.Contract(conId=12087792, symbol="EUR", secType="CASH", currency="USD")
    book.remember("EURUSD", qualified)
    assert book.symbol_of(qualified) == "EURUSD"
    assert book.symbol_of(lib.Contract(conId=0, symbol="EUR", secType="CASH")) == "EURUSD"
    assert book.spec("IBM") == ContractSpec("IBM", "STK", "SMART", "USD")


def test_config_section_takes_library_contracts_backoff_and_market_data() -> None:
    section = IBBrokerSection(type="ib", library="ib_async",
                              contracts={"ESZ6": "ES:FUT:CME:USD:202612:50"},
                              reconnect_initial_s=0.5, reconnect_max_s=8, market_data=True)
    assert (section.library, section.market_data) == ("ib_async", True)
    with pytest.raises(ValidationError):
        IBBrokerSection(type="ib", contracts={"X": "not-a-spec"})
    with pytest.raises(ValidationError):
        IBBrokerSection(type="ib", library="ibapi")


def test_example_config_builds_an_ib_adapter_without_connecting() -> None:
    config = load_config(EXAMPLES / "ib-paper.toml")
    assert isinstance(config.broker, IBBrokerSection)
    assert config.broker.port in (7497, 4002)
    assert config.feeds == []
    broker = build_broker(config.broker, SystemClock())
    assert isinstance(broker, IBAdapter)
    assert broker.loop_thread_ident is None  # nothing started until connect


def test_unknown_or_missing_library_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        load_library("ibapi")


def test_decimals_come_back_as_printed() -> None:
    assert dec(101.25) == Decimal("101.25")
    assert dec(0.1) == Decimal("0.1")  # not 0.1000000000000000055511151231257827
    assert dec(1.7976931348623157e308) == 0  # ib_insync's UNSET_DOUBLE


@pytest.mark.parametrize("library", ["ib_insync", "ib_async"])
def test_orders_round_trip_through_the_library_order_type(library: str) -> None:
    lib = load_library(pytest.importorskip(library).__name__)
    request = OrderRequest("AAPL", Side.SELL, Decimal(3), OrderType.STOP_LIMIT,
                           limit_price=Decimal("99.5"), stop_price=Decimal("100.25"),
                           time_in_force=TimeInForce.IOC)
    order = ib_order(lib, "cid-7", request, "DU1")
    assert (order.action, order.orderType, order.tif, order.orderRef, order.account) == (
        "SELL", "STP LMT", "IOC", "cid-7", "DU1")
    assert request_of("AAPL", order) == request
