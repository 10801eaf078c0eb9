"""The paper venue's own store: its whole state in one diskcache directory.

With a store, the venue is :class:`VenueStore`-backed: every change it makes is written in
one SQLite transaction before its events leave (see ``livetrade.brokers.paper``), and a new
venue on the same directory reloads everything, validated, or refuses with ``StateError``.
Kept apart from the engine's own store (``livetrade.state.store``): it is the *broker's*
memory, the other side of a reconciliation, and it follows the same rules (JSON text
validated by pydantic models, ``Cache(eviction_policy="none")``, ``transact()``, no pickle).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ValidationError

from livetrade.brokers.paper_ledger import (
    Batch,
    PaperOrder,
    PaperOrderStatus,
    VenueView,
    Working,
    collect_since,
)
from livetrade.brokers.paper_records import (
    KIND,
    SCHEMA_VERSION,
    AccountRecord,
    FillRecord,
    HeaderRecord,
    MetaRecord,
    OrderRecord,
)
from livetrade.brokers.paper_store_dir import (
    MARKER,
    open_directory,
    release_lock,
    store_error,
    write_marker,
)
from livetrade.errors import StateError
from livetrade.events import MarketData, OrderFill
from livetrade.portfolio import Portfolio

_log = structlog.get_logger("livetrade.brokers.paper")


@dataclass(frozen=True)
class Loaded:
    """A store's whole state, validated, before anything of it is installed."""

    header: HeaderRecord
    account: Portfolio
    working: dict[str, Working]
    prices: dict[str, MarketData]


M = TypeVar("M", bound=BaseModel)


def _order_key(client_order_id: str) -> str:
    return f"order:{client_order_id}"


def _fill_key(number: int) -> str:
    return f"fill:{number:012d}"


def _summarise(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}"
                     for e in error.errors(include_input=False, include_url=False)[:5])


class VenueStore:
    """The paper venue's own diskcache directory: its ledger when it has a store.

    One ``Cache(eviction_policy="none")``; every value is stored inline in SQLite (no value
    files), so one ``transact()`` covers a whole change. Values are JSON text validated by
    the :mod:`~livetrade.brokers.paper_records` models on the way back, never pickle::

        meta            MetaRecord     kind, schema_version, currency, created_at
        venue           HeaderRecord   next order/fill numbers, kept fill range and its
                                       high-water time, working client ids, priced symbols
        account         AccountRecord  Portfolio.export_state() of the venue's account
        order:<cid>     OrderRecord    every order ever accepted, working or closed: the
                                       registry that refuses a resent client order id
        fill:<n:012d>   FillRecord     fill PF<n>; the newest ``fill_history`` are kept
        price:<symbol>  MarketData     the last price stored for the symbol

    ``store_dir``'s layout (``cache/``, ``paper-venue.json``, ``paper-venue.lock``), its
    exclusive lock and the cache's refusal of pickle are in
    :mod:`~livetrade.brokers.paper_store_dir`.
    Durability is against a process crash (SQLite WAL, ``synchronous=NORMAL``). Blocks on
    disk I/O; the venue calls it under its lock.
    """

    def __init__(self, directory: Path, *, currency: str, initial_cash: Decimal,
                 fill_history: int) -> None:
        self.directory = directory
        self._currency = currency
        self._initial_cash = initial_cash
        self._capacity = fill_history
        self._first_fill_id = 1
        self._next_fill_id = 1
        self._high_water: datetime | None = None
        self._saved_last: dict[str, MarketData] = {}
        import diskcache

        self._errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError,
                                                         diskcache.Timeout)
        self._lock_file, self._cache = open_directory(directory)

    # ------------------------------------------------------------------ reading
    def _error(self, message: str, **context: Any) -> StateError:
        return store_error(self.directory, message, **context)

    def _raw(self, key: str) -> Any:
        try:
            return self._cache.get(key)
        except self._errors as exc:
            raise self._error(f"paper venue store read of {key!r} failed: {exc}") from exc

    def _read(self, key: str, model: type[M]) -> M | None:
        raw = self._raw(key)
        if raw is None:
            return None
        if not isinstance(raw, str):
            raise self._error(f"{key!r} holds a {type(raw).__name__}, not JSON text")
        try:
            return model.model_validate_json(raw)
        except ValidationError as exc:
            raise self._error(f"{key!r} is invalid: {_summarise(exc)}") from None

    def _need(self, key: str, model: type[M]) -> M:
        value = self._read(key, model)
        if value is None:
            raise self._error(f"{key!r} is missing from the paper venue store")
        return value

    def _check_meta(self) -> bool:
        """``True`` for a paper venue store of this schema and currency, ``False`` for an
        empty new one; ``StateError`` for anything else."""
        raw = self._raw("meta")
        if raw is None:
            try:
                count = len(self._cache)
            except self._errors as exc:
                raise self._error(f"paper venue store is unreadable: {exc}") from exc
            if count or (self.directory / MARKER).exists():
                raise self._error("paper venue store has lost its metadata (emptied, "
                                  "truncated, or another program's cache)",
                                  hint="move the directory aside to start a fresh venue")
            return False
        try:
            meta = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            meta = None
        if not isinstance(meta, dict) or meta.get("kind") != KIND:
            raise self._error("store_dir holds another kind of store, not a paper venue's",
                              hint="give the paper broker its own, empty store_dir")
        version = meta.get("schema_version")
        if isinstance(version, int) and version > SCHEMA_VERSION:
            raise self._error(f"paper venue store has schema {version}, newer than "
                              f"{SCHEMA_VERSION}", hint="upgrade livetrade")
        record = self._need("meta", MetaRecord)
        if record.currency != self._currency:
            raise self._error(f"paper venue store is a {record.currency} account, the config "
                              f"says {self._currency}")
        if not (self.directory / MARKER).exists():
            write_marker(self.directory, raw)  # a crash right after creation: finish it
        return True

    # ------------------------------------------------------------------ whole state
    def create(self, venue: VenueView) -> None:
        """Initialise an empty store with ``venue``'s (initial) state, then its marker."""
        meta = MetaRecord(kind=KIND, schema_version=SCHEMA_VERSION, currency=self._currency,
                           created_at=datetime.now(UTC)).model_dump_json()
        self._transact({"meta": meta, **self._header_and_account(venue, [], 1, None,
                                                                 with_account=True)}, [])
        write_marker(self.directory, meta)

    def load(self) -> Loaded | None:
        """The whole state, validated (``None`` for a new store). Nothing is installed
        here: a ``StateError`` leaves the caller exactly as it was."""
        if not self._check_meta():
            return None
        header = self._need("venue", HeaderRecord)
        account_record = self._need("account", AccountRecord)
        account = Portfolio(account_record.initial_cash)
        account.restore_state(account_record.model_dump())
        working: dict[str, Working] = {}
        for cid in header.working:
            record = self._need(_order_key(cid), OrderRecord)
            if record.client_order_id != cid or record.status is not PaperOrderStatus.WORKING:
                raise self._error(f"working order {cid!r} has a record of "
                                  f"{record.client_order_id!r} ({record.status.value})")
            if record.broker_number >= header.next_order_id:
                raise self._error(f"order id {record.broker_order_id} is not below the "
                                  f"order counter {header.next_order_id}")
            working[cid] = record.working()
        prices: dict[str, MarketData] = {}
        for symbol in header.symbols:
            event = self._need(f"price:{symbol}", MarketData)
            if event.symbol != symbol:
                raise self._error(f"the price stored for {symbol} is {event.symbol}'s")
            prices[symbol] = event
        self._check_fills(header, account, working)
        if account_record.initial_cash != self._initial_cash:
            _log.warning("paper_store_initial_cash_ignored", directory=str(self.directory),
                         stored=str(account_record.initial_cash),
                         configured=str(self._initial_cash))
        self._first_fill_id, self._high_water = header.first_fill_id, header.fill_high_water
        self._next_fill_id = header.next_fill_id
        self._saved_last = dict(prices)
        _log.info("paper_store_loaded", directory=str(self.directory), working=len(working),
                  fills_kept=header.next_fill_id - header.first_fill_id,
                  next_order_id=header.next_order_id, next_fill_id=header.next_fill_id)
        return Loaded(header, account, working, prices)

    def _check_fills(self, header: HeaderRecord, account: Portfolio,
                     working: Mapping[str, Working]) -> None:
        """Validate every kept fill: one read and one validation each, about 85 us here,
        so a full default history (100,000) adds ~8 s to opening; lower ``fill_history``
        where restarts must be quick.

        While the history is complete (nothing dropped yet) the account and the working
        orders' progress must also be exactly what the fills add up to.
        """
        complete = header.first_fill_id == 1
        cash = account.snapshot().initial_cash
        positions: dict[str, Decimal] = {}
        filled: dict[str, Decimal] = {}
        high_water: datetime | None = None
        for number in range(header.first_fill_id, header.next_fill_id):
            record = self._fill(number)
            if high_water is not None and record.high_water < high_water:
                raise self._error(f"fill record {number} goes back in time")
            high_water = record.high_water
            f = record.fill
            signed = f.fill_amount * f.side.sign
            cash -= signed * f.fill_price + f.commission
            positions[f.symbol] = positions.get(f.symbol, Decimal(0)) + signed
            filled[f.client_order_id] = filled.get(f.client_order_id, Decimal(0)) + f.fill_amount
        if high_water != header.fill_high_water:
            raise self._error("the newest fill does not match the venue's record of it")
        if not complete:
            return
        book = account.snapshot()
        held = {s: q for s, q in positions.items() if q != 0}
        if book.cash != cash or {s: p.quantity for s, p in book.positions.items()} != held:
            raise self._error("the account does not add up to its fill history")
        for cid, order in working.items():
            if order.sim.filled != filled.get(cid, Decimal(0)):
                raise self._error(f"working order {cid!r} does not add up to its fills")

    def _fill(self, number: int) -> FillRecord:
        record = self._need(_fill_key(number), FillRecord)
        if record.fill.fill_id != f"PF{number}":
            raise self._error(f"fill record {number} holds {record.fill.fill_id}")
        return record

    # ------------------------------------------------------------------ ledger
    def knows(self, client_order_id: str) -> bool:
        try:
            return _order_key(client_order_id) in self._cache
        except self._errors as exc:
            raise self._error(f"paper venue store lookup failed: {exc}") from exc

    def closed_order(self, client_order_id: str) -> PaperOrder | None:
        record = self._read(_order_key(client_order_id), OrderRecord)
        if record is None or record.status is PaperOrderStatus.WORKING:
            return None  # a working order is in memory; a record saying so is stale
        return record.working().view(record.status, record.reason)

    def fills_since(self, since: datetime) -> list[OrderFill]:
        numbers = range(self._next_fill_id - 1, self._first_fill_id - 1, -1)
        return collect_since(((r.high_water, r.fill) for r in map(self._fill, numbers)), since)

    def record(self, batch: Batch, venue: VenueView) -> None:
        """Write ``batch`` (already applied to ``venue``) in one transaction."""
        try:
            writes, deletes, first, high_water, prices = self._changes(batch, venue)
        except ValidationError as exc:  # e.g. a symbol the schema does not allow
            raise self._error(f"the change cannot be stored: {_summarise(exc)}") from None
        self._transact(writes, deletes)
        self._first_fill_id, self._high_water = first, high_water
        self._next_fill_id = venue.next_fill_id
        self._saved_last.update(prices)

    def _changes(self, batch: Batch, venue: VenueView) -> tuple[
            dict[str, str], list[str], int, datetime | None, dict[str, MarketData]]:
        """What ``record`` writes and deletes, and the store's bookkeeping after it."""
        writes: dict[str, str] = {}
        for cid, working in batch.resting.items():
            writes[_order_key(cid)] = OrderRecord.of(working, PaperOrderStatus.WORKING
                                                      ).model_dump_json()
        for cid, (working, status, reason) in batch.closed.items():
            writes[_order_key(cid)] = OrderRecord.of(working, status, reason).model_dump_json()
        high_water = self._high_water
        number = venue.next_fill_id - len(batch.fills)
        for fill in batch.fills:
            if high_water is None or fill.timestamp > high_water:
                high_water = fill.timestamp
            writes[_fill_key(number)] = FillRecord(high_water=high_water,
                                                    fill=fill).model_dump_json()
            number += 1
        deletes: list[str] = []
        first = self._first_fill_id
        while venue.next_fill_id - first > self._capacity:
            key = _fill_key(first)
            if writes.pop(key, None) is None:
                deletes.append(key)
            first += 1
        prices, symbols = self._unsaved_prices(venue.last, writes)
        writes.update(self._header_and_account(venue, symbols, first, high_water,
                                               with_account=bool(batch.fills)))
        return writes, deletes, first, high_water, prices

    def _unsaved_prices(self, last: Mapping[str, MarketData], writes: dict[str, str]
                        ) -> tuple[dict[str, MarketData], list[str]]:
        """Add the last prices not stored yet to ``writes``; return them and the symbols
        the header lists once they are stored. Identity, not equality, tells what changed:
        it costs one comparison per symbol."""
        saved = self._saved_last
        prices = {s: e for s, e in list(last.items()) if saved.get(s) is not e}
        for symbol, event in prices.items():
            writes[f"price:{symbol}"] = event.model_dump_json()
        return prices, [*saved, *(s for s in prices if s not in saved)]

    def _header_and_account(self, venue: VenueView, symbols: list[str], first: int,
                            high_water: datetime | None, *,
                            with_account: bool) -> dict[str, str]:
        header = HeaderRecord(next_order_id=venue.next_order_id,
                               next_fill_id=venue.next_fill_id, first_fill_id=first,
                               fill_high_water=high_water, working=list(venue.working),
                               symbols=symbols)
        writes = {"venue": header.model_dump_json()}
        if with_account:
            account = AccountRecord.model_validate(venue.account.export_state())
            writes["account"] = account.model_dump_json()
        return writes

    def _transact(self, writes: Mapping[str, str], deletes: Iterable[str]) -> None:
        try:
            with self._cache.transact():
                for key, text in writes.items():
                    self._cache.set(key, text)
                for key in deletes:
                    self._cache.delete(key)
        except self._errors as exc:
            raise self._error(f"paper venue store write failed: {exc}") from exc

    def close(self, venue: VenueView | None) -> None:
        """Write what only memory holds (last prices, account marks) unless ``venue`` is
        ``None``, then release the store, even if that write failed."""
        try:
            if venue is not None and self._cache is not None:
                writes: dict[str, str] = {}
                prices, symbols = self._unsaved_prices(venue.last, writes)
                writes.update(self._header_and_account(venue, symbols, self._first_fill_id,
                                                       self._high_water, with_account=True))
                self._transact(writes, [])
                self._saved_last.update(prices)
        finally:
            if self._cache is not None:
                self._cache.close()
                self._cache = None
            if not self._lock_file.closed:
                release_lock(self._lock_file)
