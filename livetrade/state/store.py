"""The state store: checkpoints, the order journal and reconciliation reports, in SQLite.

One ``diskcache.Cache`` directory per engine instance. diskcache keeps its index in SQLite;
each write here runs in one SQLite transaction (``Cache.transact``), so a ``kill -9`` at any
instant leaves either the old or the new value, never half of one. The order journal is a
table of its own in the same database file (:mod:`livetrade.state.journal`: one ``INSERT``
an entry instead of diskcache's bookkeeping, since it is written on the order path).
(Durability is against a process crash: SQLite runs in WAL mode with ``synchronous=NORMAL``;
a power cut may lose the last transactions but not corrupt the file.) Eviction is off:
nothing is ever dropped to save space. Values are JSON text validated by
:mod:`livetrade.state.records` on the way back, never pickle.

Keys::

    meta                      {"schema_version", "account_id", "strategy_id", "created_at"}
                              (:mod:`livetrade.state.directory` writes and checks it)
    checkpoint:index          JSON list of kept checkpoint numbers, oldest first
    checkpoint:<n, 10 digits> a Checkpoint
    checkpoint:covers         JSON {checkpoint number: last journal entry it covers}
    report:index / report:<n> reconciliation reports (JSON)

and the tables ``livetrade_journal`` / ``livetrade_journal_meta`` (the journal). Schema 1
kept the journal as keys (``journal:next``, ``journal:first``, ``journal:<n, 12 digits>``);
opening such a store moves them into the table once (:mod:`livetrade.state.schema1`),
after which an older livetrade refuses the store instead of missing its journal.

This module blocks on disk I/O; the engine calls it from its state thread or, for journal
appends, from the dispatcher thread (one small SQLite transaction per order event).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError

from livetrade.errors import StateError
from livetrade.state import schema1
from livetrade.state.directory import check_meta, open_cache, read_meta_text
from livetrade.state.journal import JournalTable
from livetrade.state.pieces import TextPieces
from livetrade.state.records import (
    SCHEMA_VERSION,
    Checkpoint,
    JournalEntry,
    JournalKind,
    to_json_ready,
)

_T = TypeVar("_T")
_CP = "checkpoint:{:010d}"
JOURNAL_IN_TABLE = 2
"""The first schema with the journal in its own table."""


def _summarise(error: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}"
                     for e in error.errors(include_input=False, include_url=False)[:5])


class StateStore:
    """Durable state of one engine instance (one account, one strategy).

    Opening a store that belongs to another account or strategy, or that was written by a
    newer schema, raises ``StateError`` before anything is read into the engine.
    """

    def __init__(self, directory: str | Path, *, account_id: str, strategy_id: str,
                 keep_checkpoints: int = 10, upgrade: bool = True) -> None:
        if keep_checkpoints < 1:
            raise ValueError("keep_checkpoints must be >= 1")
        self.directory = Path(directory)
        self.account_id = account_id
        self.strategy_id = strategy_id
        self.keep_checkpoints = keep_checkpoints
        self._lock = threading.Lock()
        self._cache = open_cache(self.directory)
        journal: JournalTable | schema1.KeyedJournal | None = None
        try:
            version = check_meta(self._cache, self._get, self.directory,
                                 account_id=account_id, strategy_id=strategy_id)
            if version >= JOURNAL_IN_TABLE:
                journal = self._open_journal()
            elif upgrade:
                journal = schema1.upgrade(self.directory, self._cache, self._lock,
                                          self._open_journal)
            else:  # a read-only tool: look at the schema-1 journal where it is
                journal = schema1.KeyedJournal(self._get)
            self._journal = journal
            self.last_journal_sequence = self.journal_sequence()
            """The journal's last sequence number, kept in memory so that the dispatcher's
            checkpoint capture never waits on SQLite (only :meth:`append_journal` moves it)."""
        except BaseException:
            if journal is not None:
                journal.close()
            self._cache.close()
            raise

    # ------------------------------------------------------------------ opening
    def _verify_error(self, message: str) -> StateError:
        """A ``StateError`` naming this store's directory, with the hint every damaged-store
        error here gives."""
        return StateError(message, directory=str(self.directory),
                          hint="run 'livetrade state verify'")

    def _get(self, key: str) -> Any:
        try:
            return self._cache.get(key)
        except (sqlite3.DatabaseError, OSError) as exc:
            raise StateError(f"state store read failed for {key}: {exc}",
                             directory=str(self.directory)) from exc

    def _open_journal(self) -> JournalTable:
        from diskcache.core import DBNAME

        try:
            return JournalTable(self.directory / DBNAME)
        except (sqlite3.Error, OSError) as exc:
            raise self._verify_error(
                f"the journal in {self.directory} cannot be opened: {exc}") from exc

    @classmethod
    def open_existing(cls, directory: str | Path) -> StateStore:
        """Open a store for inspection, taking account and strategy from its metadata.

        A schema-1 store is not upgraded (its journal is read where it is, and cannot be
        written): looking must not change what an older livetrade can still open.
        """
        path = Path(directory)
        raw = read_meta_text(path)
        try:
            meta = json.loads(raw)
            return cls(path, account_id=str(meta["account_id"]),
                       strategy_id=str(meta["strategy_id"]), upgrade=False)
        except (TypeError, ValueError, KeyError) as exc:
            raise StateError("state store metadata is unreadable", directory=str(path)) from exc

    def meta(self) -> dict[str, Any]:
        """Whose store this is (schema, account, strategy). Raises StateError."""
        meta = self._json("meta")
        if not isinstance(meta, dict):
            raise self._verify_error("state store metadata is missing or not an object")
        return meta

    def close(self) -> None:
        self._journal.close()
        self._cache.close()

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_numbers(self) -> list[int]:
        raw = self._get("checkpoint:index")
        return list(json.loads(raw)) if raw else []

    def next_checkpoint_number(self) -> int:
        numbers = self.checkpoint_numbers()
        return (numbers[-1] + 1) if numbers else 1

    def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Write ``checkpoint``, drop old ones and prune the journal. Raises StateError."""
        self.save_checkpoint_text(checkpoint.number, checkpoint.journal_sequence,
                                  checkpoint.model_dump_json())

    def save_checkpoint_text(self, number: int, journal_sequence: int,
                             text: str | TextPieces) -> None:
        """Store checkpoint ``number`` given as its JSON ``text`` (validated when read),
        which covers the journal up to ``journal_sequence``, and prune old ones. Blocks on
        disk; raises ``StateError``.

        The text is stored first, on its own, under its number; then one transaction
        makes it the newest checkpoint. A crash in between leaves an unlisted value that
        the next checkpoint of that number overwrites. So the journal (appended on the
        dispatcher thread) never waits for a big checkpoint's file to be written.
        """
        table = self._table()  # before anything is written
        try:
            self._cache.set(_CP.format(number), text)
            prune_upto = self._save(number, journal_sequence)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StateError(f"checkpoint write failed: {exc}",
                             directory=str(self.directory)) from exc
        if prune_upto is None:
            return
        # After the index commits, on the journal's own connection: inside the transaction
        # above it would wait for that transaction's write lock. A crash in between leaves
        # entries that the next checkpoint prunes.
        try:
            with self._lock:
                table.prune(prune_upto)
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"checkpoint {number} is saved, but pruning the journal up to "
                             f"entry {prune_upto} failed: {exc}",
                             directory=str(self.directory)) from exc

    def _save(self, number: int, journal_sequence: int) -> int | None:
        """Record checkpoint ``number`` in the index, dropping the oldest beyond the limit.
        Returns the journal entry up to which entries are no longer needed."""
        with self._lock, self._cache.transact():
            numbers = [n for n in self.checkpoint_numbers() if n != number]
            numbers.append(number)
            covers = json.loads(self._cache.get("checkpoint:covers", "{}"))
            covers[str(number)] = journal_sequence
            while len(numbers) > self.keep_checkpoints:
                dropped = numbers.pop(0)
                self._cache.delete(_CP.format(dropped))
                covers.pop(str(dropped), None)
            self._cache.set("checkpoint:index", json.dumps(numbers))
            self._cache.set("checkpoint:covers", json.dumps(covers))
            # Journal entries before what the oldest kept checkpoint covers are never needed
            # again (read from the index: re-reading that checkpoint costs a restore).
            oldest = covers.get(str(numbers[0]))
            return None if oldest is None else int(oldest)

    def load_checkpoint(self, number: int | None = None) -> Checkpoint:
        """Load and validate checkpoint ``number`` (default: the newest). Raises ``StateError``."""
        numbers = self.checkpoint_numbers()
        if not numbers:
            raise StateError("no checkpoint in the store", directory=str(self.directory))
        number = numbers[-1] if number is None else number
        if number not in numbers:
            raise StateError(f"no checkpoint number {number}; kept: {numbers}",
                             directory=str(self.directory))
        raw = self._get(_CP.format(number))
        if raw is None:
            raise StateError(f"checkpoint {number} is missing from the store",
                             directory=str(self.directory))
        try:
            checkpoint = Checkpoint.model_validate_json(raw)
        except ValidationError as exc:
            raise StateError(f"checkpoint {number} is invalid: {_summarise(exc)}",
                             directory=str(self.directory), checkpoint=number) from None
        if checkpoint.schema_version > SCHEMA_VERSION:
            raise StateError(f"checkpoint {number} has schema {checkpoint.schema_version}, "
                             f"newer than {SCHEMA_VERSION}", checkpoint=number)
        if (checkpoint.account_id, checkpoint.strategy_id) != (self.account_id, self.strategy_id):
            raise StateError(f"checkpoint {number} belongs to another account or strategy",
                             checkpoint=number)
        if checkpoint.number != number:
            raise StateError(f"checkpoint {number} claims to be number {checkpoint.number}",
                             checkpoint=number)
        return checkpoint

    def latest_valid_checkpoint(self, *, fall_back: bool) -> tuple[Checkpoint | None, list[str]]:
        """The newest checkpoint that validates, and the problems met on the way.

        With ``fall_back=False`` an invalid newest checkpoint raises ``StateError`` instead
        of silently using an older one.
        """
        problems: list[str] = []
        for number in reversed(self.checkpoint_numbers()):
            try:
                return self.load_checkpoint(number), problems
            except StateError as exc:
                if not fall_back:
                    raise
                problems.append(str(exc))
        return None, problems

    # ------------------------------------------------------------------ journal
    def append_journal(self, kind: JournalKind, client_order_id: str,
                       data: dict[str, Any] | None = None, *,
                       recorded_at: datetime | None = None) -> int:
        """Durably append one journal entry; return its sequence number. Blocks on disk.

        ``recorded_at`` is the engine's clock (data time in a replay), so that it compares
        with the broker's fill times; raises ``StateError`` if the write fails.
        """
        recorded = recorded_at or datetime.now(UTC)
        ready = to_json_ready(data or {})

        def entry_for(sequence: int) -> str:
            return JournalEntry(sequence=sequence, kind=kind, client_order_id=client_order_id,
                                recorded_at=recorded, data=ready).model_dump_json()

        table = self._table()
        try:
            with self._lock:  # queue behind a checkpoint's transaction here, not in SQLite
                sequence = table.append(entry_for)
        except (sqlite3.Error, OSError, ValidationError) as exc:
            raise StateError(f"journal write failed: {exc}",
                             directory=str(self.directory)) from exc
        self.last_journal_sequence = sequence  # committed
        return sequence

    def _table(self) -> JournalTable:
        """The journal for writing; a schema-1 store opened only to look has none."""
        if isinstance(self._journal, JournalTable):
            return self._journal
        raise StateError("this schema-1 store was opened read-only (not upgraded); its "
                         "journal cannot be written", directory=str(self.directory),
                         hint="open it with an engine (or StateStore) to upgrade it")

    def _read_journal(self, read: Callable[[], _T]) -> _T:
        """``read()`` from the journal, its SQLite or OS errors as ``StateError``."""
        try:
            return read()
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"journal read failed: {exc}",
                             directory=str(self.directory)) from exc

    def journal_sequence(self) -> int:
        """The last journal entry's number (0 before the first)."""
        return self._read_journal(self._journal.last)

    def journal_since(self, after: int) -> list[JournalEntry]:
        """Entries with sequence > ``after``, in order. Raises ``StateError`` on a bad one."""
        last = self.journal_sequence()
        first = self.journal_first()
        if after > last:
            raise self._verify_error(f"asked for the journal after entry {after}, past its "
                                     f"end {last}: entries or the counter were lost")
        if after + 1 < first:
            raise StateError(f"journal entries before {first} were pruned; cannot read from "
                             f"{after + 1}", directory=str(self.directory))
        stored = self._read_journal(lambda: self._journal.entries(after, last))
        entries = []
        for sequence in range(after + 1, last + 1):
            raw = stored.get(sequence)
            if raw is None:
                raise StateError(f"journal entry {sequence} is missing",
                                 directory=str(self.directory))
            try:
                entries.append(JournalEntry.model_validate_json(raw))
            except ValidationError as exc:
                raise StateError(f"journal entry {sequence} is invalid: {_summarise(exc)}",
                                 directory=str(self.directory)) from None
        return entries

    def journal_first(self) -> int:
        """The first journal entry not pruned."""
        return self._read_journal(self._journal.first)

    # ------------------------------------------------------------------ reports
    def save_report(self, report: dict[str, Any]) -> int:
        """Keep a reconciliation report (the newest 100); its number. Raises StateError."""
        try:
            with self._lock, self._cache.transact():
                numbers = json.loads(self._cache.get("report:index", "[]"))
                number = (numbers[-1] + 1) if numbers else 1
                numbers.append(number)
                while len(numbers) > 100:
                    self._cache.delete(f"report:{numbers.pop(0)}")
                self._cache.set(f"report:{number}", json.dumps(to_json_ready(report)))
                self._cache.set("report:index", json.dumps(numbers))
                return number
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise self._verify_error(f"reconciliation report write failed: {exc}") from exc

    def reports(self) -> list[dict[str, Any]]:
        """The kept reconciliation reports, oldest first. Raises StateError."""
        numbers = self._json("report:index") or []
        return [self._json(f"report:{n}") for n in numbers]

    def _json(self, key: str) -> Any:
        """The JSON value under ``key`` (None if absent); StateError if it does not parse."""
        raw = self._get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise self._verify_error(
                f"state store value {key} is not valid JSON: {exc}") from exc

    # ------------------------------------------------------------------ maintenance
    def verify(self) -> list[str]:
        """Every integrity problem found: SQLite, checkpoints, journal continuity."""
        problems: list[str] = []
        try:
            warnings = self._cache.check(fix=False)
            problems.extend(f"store: {w.message}" for w in warnings)
        except (sqlite3.DatabaseError, OSError) as exc:
            return [f"store: SQLite check failed: {exc}"]
        end = self.journal_sequence()
        for number in self.checkpoint_numbers():
            try:
                checkpoint = self.load_checkpoint(number)
            except StateError as exc:
                problems.append(f"checkpoint {number}: {exc.message}")
                continue
            if checkpoint.journal_sequence > end:
                problems.append(f"checkpoint {number} covers journal entry "
                                f"{checkpoint.journal_sequence}, past its end {end}")
        try:
            self.journal_since(self.journal_first() - 1)
        except StateError as exc:
            problems.append(f"journal: {exc.message}")
        return problems
