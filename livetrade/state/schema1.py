"""Stores of schema 1, which kept the order journal as diskcache keys.

Keys::

    journal:next              last journal sequence number used (integer)
    journal:first             first entry not pruned (absent: 1)
    journal:<n, 12 digits>    a JournalEntry (JSON)

Such a store is either read where it is (:class:`KeyedJournal`, for ``livetrade state show``
/ ``verify``, which must not change what an older livetrade can still open) or upgraded once
by an engine opening it (:func:`upgrade`): the entries are copied into the journal table
(:mod:`livetrade.state.journal`) in one transaction, then the keys are dropped and the meta
records the new schema in another. A crash between the two leaves the keys, and the next
open copies the same entries again (replacing, never doubling).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from livetrade.errors import StateError
from livetrade.state.journal import JournalTable
from livetrade.state.lock import lock_directory
from livetrade.state.records import SCHEMA_VERSION

ENTRY_KEY = "journal:{:012d}"


class KeyedJournal:
    """The schema-1 journal, read where it is (diskcache keys), for tools that only look.

    The same reading methods as :class:`JournalTable`; nothing here writes. ``get`` is the
    store's checked ``diskcache`` read.
    """

    def __init__(self, get: Callable[[str], Any]) -> None:
        self._get = get

    def close(self) -> None:
        """Nothing of its own to close (the store's diskcache is)."""

    def last(self) -> int:
        return int(self._get("journal:next") or 0)

    def first(self) -> int:
        return int(self._get("journal:first") or 1)

    def entries(self, after: int, upto: int) -> dict[int, str]:
        found = {n: self._get(ENTRY_KEY.format(n)) for n in range(after + 1, upto + 1)}
        return {n: str(text) for n, text in found.items() if text is not None}


def upgrade(directory: Path, cache: Any, store_lock: threading.Lock,
            open_table: Callable[[], JournalTable]) -> JournalTable:
    """Upgrade the schema-1 store in ``directory`` (its diskcache ``cache``); the journal
    table that now holds its journal.

    Only while no other process uses the directory: an older engine still running on it
    would go on appending to the keys this moves (and restart their numbering once the
    counter key is gone). Nothing is created before the lock is held. The lock is counted,
    so an engine of this process that already holds the directory is no obstacle. (An engine
    older than the directory lock takes none: stop every engine on a store before
    upgrading, as the README says.) Raises ``StateError``.
    """
    try:
        claim = lock_directory(directory)
    except StateError as exc:
        raise StateError(
            f"this state store (schema 1) must be upgraded, and {exc.message}",
            directory=str(directory),
            hint="stop the engine using it, then run this again; the upgrade moves the "
                 "order journal into its own table on first open") from None
    try:
        table = open_table()
        try:
            _move(directory, cache, store_lock, table)
        except BaseException:
            table.close()
            raise
        return table
    finally:
        claim.release()


def _move(directory: Path, cache: Any, store_lock: threading.Lock,
          table: JournalTable) -> None:
    """Copy the keyed entries into ``table``, then drop the keys and record the schema."""
    import diskcache

    try:
        last = int(cache.get("journal:next", 0))
        first = int(cache.get("journal:first", 1))
        entries = [(n, str(raw)) for n in range(first, last + 1)
                   if (raw := cache.get(ENTRY_KEY.format(n))) is not None]
        table.adopt(entries, first=first, last=last)
        with store_lock, cache.transact():
            for n in range(first, last + 1):
                cache.delete(ENTRY_KEY.format(n))
            cache.delete("journal:next")
            cache.delete("journal:first")
            meta = json.loads(cache.get("meta"))
            meta["schema_version"] = SCHEMA_VERSION
            cache.set("meta", json.dumps(meta))
    except (sqlite3.Error, OSError, ValueError, TypeError, diskcache.Timeout) as exc:
        raise StateError(f"moving the journal to its table failed: {exc}",
                         directory=str(directory),
                         hint="nothing was lost: the old entries are kept until the "
                              "move completes; run 'livetrade state verify'") from exc
