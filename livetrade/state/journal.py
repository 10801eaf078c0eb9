"""The order journal: one SQLite table of its own, in the state store's database file.

Why not a diskcache key per entry (schema 1): every order event is journaled on the
dispatcher thread before the engine acts on it, so the journal's cost is paid on the order
path, three times an order. Through diskcache one entry cost ~340 us here: a keyed row with
diskcache's bookkeeping (its triggers keep a count and a size), a second row for the counter
and a read of it. One ``INSERT`` and a counter ``UPDATE`` in a transaction of their own cost
~50 us. The durability is the same, since it is the same database file: WAL mode with
``synchronous=NORMAL`` (a process crash, ``kill -9`` included, loses nothing committed; a power
cut may lose the last transactions but cannot corrupt the file).

Tables (created on first use)::

    livetrade_journal       (sequence INTEGER PRIMARY KEY, entry TEXT)  one JSON JournalEntry
    livetrade_journal_meta  (key TEXT PRIMARY KEY, value INTEGER)       'first' and 'last'

``last`` is the last sequence number ever used and only grows, also when pruning empties the
table, because checkpoints refer to entries by number. The next number is read inside the
appending transaction (``BEGIN IMMEDIATE`` holds SQLite's write lock), so two stores open
on one directory in one process can never hand out the same number; the primary key would
refuse it anyway.

One connection, shared by the threads that use it (the dispatcher appends, the checkpoint
writer prunes), serialized by a lock of its own. The store also serializes appends and prunes
with its diskcache transactions under its own lock, so they queue in Python (woken at once)
rather than in SQLite's busy handler, which sleeps 1 ms or more per retry.

Damage is refused, not repaired: counters that are missing, not numbers, or that disagree
with the entries raise ``sqlite3.DatabaseError`` when the table is opened or used (a lost
``last`` silently restarting the numbering would hand out numbers checkpoints already cover).

Stores of schema 1 kept the journal as diskcache keys: :mod:`livetrade.state.schema1`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

_TABLES = (
    "CREATE TABLE IF NOT EXISTS livetrade_journal "
    "(sequence INTEGER PRIMARY KEY, entry TEXT NOT NULL)",
    "CREATE TABLE livetrade_journal_meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
    "INSERT INTO livetrade_journal_meta (key, value) VALUES ('first', 1), ('last', 0)",
)
_BUSY_TIMEOUT_S = 60.0  # diskcache's own; a checkpoint transaction may hold the write lock


class JournalTable:
    """The journal's entries by sequence number, appended one transaction each.

    Entries are opaque text here (the store builds and validates them); this class owns the
    numbering, the pruning and nothing else. Raises ``sqlite3.Error`` / ``OSError``; the
    store turns them into ``StateError`` with the directory.
    """

    def __init__(self, database: Path) -> None:
        self._lock = threading.Lock()
        # Autocommit mode: every transaction below is explicit.
        self._con = sqlite3.connect(str(database), timeout=_BUSY_TIMEOUT_S,
                                    isolation_level=None, check_same_thread=False)
        try:
            self._con.execute("PRAGMA synchronous=NORMAL")  # per connection; as diskcache's
            with self._lock:
                self._transaction(self._prepare)
        except BaseException:
            self._con.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def _transaction(self, body: Callable[[], object]) -> None:
        """Run ``body`` in one write transaction; roll back if it raises. Locked."""
        self._con.execute("BEGIN IMMEDIATE")
        try:
            body()
            self._con.execute("COMMIT")
        except BaseException:
            if self._con.in_transaction:  # a failed COMMIT may leave it open
                self._con.execute("ROLLBACK")
            raise

    def _prepare(self) -> None:
        """Create the tables in a new store; check the counters of an existing one."""
        tables = {str(name) for (name,) in self._con.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name IN "
            "('livetrade_journal', 'livetrade_journal_meta')")}
        if "livetrade_journal_meta" not in tables:
            if "livetrade_journal" in tables:
                raise sqlite3.DatabaseError("the journal's counters table is missing")
            for sql in _TABLES:
                self._con.execute(sql)
            return
        self._con.execute(_TABLES[0])  # a dropped entry table shows as missing entries
        first, last = self._meta("first"), self._meta("last")
        low, high = self._con.execute(
            "SELECT MIN(sequence), MAX(sequence) FROM livetrade_journal").fetchone()
        if first < 1 or last < first - 1 or (high is not None and (low < first or high > last)):
            raise sqlite3.DatabaseError(
                f"the journal's counters (first {first}, last {last}) disagree with its "
                f"entries ({low}..{high})")

    def _meta(self, key: str) -> int:
        row = self._con.execute("SELECT value FROM livetrade_journal_meta WHERE key = ?",
                                (key,)).fetchone()
        if row is None or type(row[0]) is not int:
            raise sqlite3.DatabaseError(f"the journal's {key!r} counter is missing or not a "
                                        "number")
        return int(row[0])

    def append(self, entry_for: Callable[[int], str]) -> int:
        """Commit ``entry_for(n)`` as entry ``n``, the next number; return ``n``.

        ``entry_for`` runs inside the transaction: if it raises, nothing is written and the
        number is not used.
        """
        sequence = 0

        def body() -> None:
            nonlocal sequence
            sequence = self._meta("last") + 1
            self._con.execute("INSERT INTO livetrade_journal (sequence, entry) VALUES (?, ?)",
                              (sequence, entry_for(sequence)))
            self._con.execute("UPDATE livetrade_journal_meta SET value = ? WHERE key = 'last'",
                              (sequence,))

        with self._lock:
            self._transaction(body)
        return sequence

    def last(self) -> int:
        """The last sequence number used (0 before the first entry)."""
        with self._lock:
            return self._meta("last")

    def first(self) -> int:
        """The first sequence number not pruned (``last() + 1`` if all were)."""
        with self._lock:
            return self._meta("first")

    def entries(self, after: int, upto: int) -> dict[int, str]:
        """The entries numbered ``after + 1`` .. ``upto`` that exist, by number."""
        with self._lock:
            rows = self._con.execute(
                "SELECT sequence, entry FROM livetrade_journal "
                "WHERE sequence > ? AND sequence <= ? ORDER BY sequence", (after, upto))
            return {int(sequence): str(entry) for sequence, entry in rows}

    def prune(self, upto: int) -> None:
        """Drop the entries numbered ``upto`` and below; ``first`` moves past them.
        Idempotent: pruning to a number already pruned changes nothing."""

        def body() -> None:
            if upto + 1 <= self._meta("first"):
                return
            self._con.execute("DELETE FROM livetrade_journal WHERE sequence <= ?", (upto,))
            self._con.execute("UPDATE livetrade_journal_meta SET value = ? WHERE key = 'first'",
                              (upto + 1,))

        with self._lock:
            self._transaction(body)

    def adopt(self, entries: Iterable[tuple[int, str]], *, first: int, last: int) -> None:
        """Take over a journal kept elsewhere (the schema-1 layout), in one transaction.

        Entries already here with the same number are replaced, so a migration cut short by
        a crash is simply run again.
        """

        def body() -> None:
            self._con.executemany(
                "INSERT OR REPLACE INTO livetrade_journal (sequence, entry) VALUES (?, ?)",
                list(entries))
            self._con.executemany(
                "UPDATE livetrade_journal_meta SET value = ? WHERE key = ?",
                ((first, "first"), (last, "last")))

        with self._lock:
            self._transaction(body)

