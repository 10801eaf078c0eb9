"""The order journal's table: numbering, pruning, damage, and the move from schema 1.

The journal is what makes an order survive a ``kill -9`` between "decided" and "the broker
answered", so every property here is about never losing an entry and never handing out a
number twice.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import diskcache
import pytest
from diskcache.core import DBNAME
from test_state_lock import held_by_another_process

from livetrade.errors import StateError
from livetrade.state.journal import JournalTable
from livetrade.state.pieces import PiecesDisk
from livetrade.state.records import SCHEMA_VERSION, JournalEntry
from livetrade.state.store import JOURNAL_IN_TABLE, StateStore


def open_store(directory: Path, keep: int = 10) -> StateStore:
    return StateStore(directory, account_id="acct", strategy_id="strat", keep_checkpoints=keep)


def append(store: StateStore, client_order_id: str) -> int:
    return store.append_journal("intent", client_order_id, {"n": client_order_id})


def ids(entries: list[JournalEntry]) -> list[tuple[int, str]]:
    return [(e.sequence, e.client_order_id) for e in entries]


def table_rows(directory: Path) -> list[tuple[int, str]]:
    with sqlite3.connect(directory / DBNAME) as con:
        return [(int(n), str(text)) for n, text in con.execute(
            "SELECT sequence, entry FROM livetrade_journal ORDER BY sequence")]


def test_entries_are_numbered_one_by_one_and_survive_a_reopen(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    assert store.journal_sequence() == 0 and store.journal_first() == 1
    assert [append(store, f"s-{k}") for k in range(1, 4)] == [1, 2, 3]
    assert store.last_journal_sequence == 3
    store.close()

    again = open_store(tmp_path)
    assert ids(again.journal_since(0)) == [(1, "s-1"), (2, "s-2"), (3, "s-3")]
    assert ids(again.journal_since(2)) == [(3, "s-3")]
    assert append(again, "s-4") == 4
    again.close()


def test_two_stores_on_one_directory_never_reuse_a_number(tmp_path: Path) -> None:
    # One process may hold two (a test simulating a crash does): the next number is read
    # inside the appending transaction, never from memory.
    first, second = open_store(tmp_path), open_store(tmp_path)
    numbers = [append(first, "a-1"), append(second, "b-1"), append(first, "a-2"),
               append(second, "b-2")]
    assert numbers == [1, 2, 3, 4]
    assert ids(first.journal_since(0)) == [(1, "a-1"), (2, "b-1"), (3, "a-2"), (4, "b-2")]
    first.close()
    second.close()


def test_an_entry_that_cannot_be_built_writes_nothing_and_uses_no_number(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    append(store, "s-1")
    with pytest.raises(StateError, match="journal write failed"):
        store.append_journal("no-such-kind", "s-2")  # type: ignore[arg-type]
    assert store.journal_sequence() == 1
    assert append(store, "s-2") == 2
    assert [n for n, _ in table_rows(tmp_path)] == [1, 2]
    store.close()


def test_pruning_follows_the_oldest_kept_checkpoint_and_numbers_keep_growing(
        tmp_path: Path) -> None:
    store = open_store(tmp_path, keep=1)
    for k in range(1, 4):
        append(store, f"s-{k}")
    store.save_checkpoint_text(1, 3, "{}")  # the only checkpoint kept covers 1..3
    assert store.journal_first() == 4
    assert store.journal_since(3) == []
    assert table_rows(tmp_path) == []
    with pytest.raises(StateError, match="pruned"):
        store.journal_since(0)
    store.close()

    again = open_store(tmp_path, keep=1)  # an empty table must not restart the count
    assert again.journal_sequence() == 3
    assert append(again, "s-4") == 4
    again.close()


def test_pruning_again_to_the_same_point_changes_nothing(tmp_path: Path) -> None:
    table = JournalTable(tmp_path / "journal.db")
    for _ in range(5):
        table.append(lambda n: f"entry {n}")
    table.prune(3)
    table.prune(3)
    table.prune(2)  # behind what was already pruned
    assert (table.first(), table.last()) == (4, 5)
    assert sorted(table.entries(0, 5)) == [4, 5]
    table.close()


@pytest.mark.parametrize(("damage", "message"), [
    ("UPDATE livetrade_journal SET entry = 'not json' WHERE sequence = 2", "entry 2 is invalid"),
    ("DELETE FROM livetrade_journal WHERE sequence = 2", "entry 2 is missing"),
])
def test_a_damaged_journal_is_refused_and_reported_never_half_read(
        tmp_path: Path, damage: str, message: str) -> None:
    store = open_store(tmp_path)
    for k in range(1, 4):
        append(store, f"s-{k}")
    with sqlite3.connect(tmp_path / DBNAME) as con:
        con.execute(damage)
    with pytest.raises(StateError, match=message):
        store.journal_since(0)
    assert any(message in problem for problem in store.verify())
    store.close()


# ---------------------------------------------------------------------- schema 1 -> 2
def schema_1_store(directory: Path, *, first: int, last: int,
                   missing: frozenset[int] = frozenset()) -> list[str]:
    """Write a store the way livetrade with schema 1 did: the journal as diskcache keys."""
    texts = []
    with diskcache.Cache(str(directory), eviction_policy="none", size_limit=2**62,
                         disk=PiecesDisk) as cache:
        cache.set("meta", json.dumps({"schema_version": 1, "account_id": "acct",
                                      "strategy_id": "strat",
                                      "created_at": "2026-11-01T00:00:00+00:00"}))
        for n in range(first, last + 1):
            text = JournalEntry(sequence=n, kind="intent", client_order_id=f"old-{n}",
                                recorded_at="2026-11-01T00:00:00Z",
                                data={"n": n}).model_dump_json()
            texts.append(text)
            if n not in missing:
                cache.set(f"journal:{n:012d}", text)
        cache.set("journal:next", last)
        if first > 1:
            cache.set("journal:first", first)
    return texts


def old_keys(directory: Path) -> list[str]:
    with diskcache.Cache(str(directory), eviction_policy="none", disk=PiecesDisk) as cache:
        return sorted(str(key) for key in cache.iterkeys() if str(key).startswith("journal"))


def test_a_schema_1_journal_moves_into_the_table_once_and_nothing_changes_meaning(
        tmp_path: Path) -> None:
    texts = schema_1_store(tmp_path, first=3, last=6)  # 1 and 2 were pruned back then

    store = open_store(tmp_path)
    assert store.meta()["schema_version"] == SCHEMA_VERSION >= JOURNAL_IN_TABLE
    assert (store.journal_first(), store.journal_sequence()) == (3, 6)
    assert [e.model_dump_json() for e in store.journal_since(2)] == texts  # byte for byte
    assert old_keys(tmp_path) == []
    assert append(store, "new-7") == 7
    store.close()

    again = open_store(tmp_path)  # a second open finds nothing to move
    assert ids(again.journal_since(2))[-2:] == [(6, "old-6"), (7, "new-7")]
    again.close()


def test_a_move_cut_short_by_a_crash_is_run_again_without_doubling(tmp_path: Path) -> None:
    texts = schema_1_store(tmp_path, first=1, last=3)
    # The crash came after the entries reached the table and before the keys were dropped.
    table = JournalTable(tmp_path / DBNAME)
    table.adopt([(n, texts[n - 1]) for n in (1, 2, 3)], first=1, last=3)
    table.close()

    store = open_store(tmp_path)
    assert ids(store.journal_since(0)) == [(1, "old-1"), (2, "old-2"), (3, "old-3")]
    assert len(table_rows(tmp_path)) == 3
    assert old_keys(tmp_path) == []
    store.close()


def test_a_schema_1_journal_with_a_hole_keeps_the_hole_visible(tmp_path: Path) -> None:
    # Damage is carried over as it was, not papered over: verify still names it, and the
    # numbering continues after the last number the old store had used.
    schema_1_store(tmp_path, first=1, last=4, missing=frozenset({4}))
    store = open_store(tmp_path)
    assert store.journal_sequence() == 4
    assert any("entry 4 is missing" in problem for problem in store.verify())
    assert append(store, "new") == 5
    store.close()


def test_a_store_that_cannot_hold_the_journal_table_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self: JournalTable, database: Path) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(JournalTable, "__init__", broken)
    with pytest.raises(StateError, match=r"journal .* cannot be opened: disk I/O error") as info:
        open_store(tmp_path)
    assert "state verify" in info.value.context["hint"]


def test_a_store_from_a_newer_schema_is_refused_before_anything_is_moved(
        tmp_path: Path) -> None:
    schema_1_store(tmp_path, first=1, last=2)
    with diskcache.Cache(str(tmp_path), eviction_policy="none", disk=PiecesDisk) as cache:
        meta = json.loads(cache.get("meta"))
        meta["schema_version"] = SCHEMA_VERSION + 1
        cache.set("meta", json.dumps(meta))
    with pytest.raises(StateError, match="newer livetrade"):
        open_store(tmp_path)
    assert old_keys(tmp_path) == ["journal:000000000001", "journal:000000000002",
                                  "journal:next"]


def test_an_old_store_in_use_by_another_process_is_not_upgraded_under_it(
        tmp_path: Path) -> None:
    # An older engine still running there would go on appending to the keys the move drops.
    schema_1_store(tmp_path, first=1, last=2)
    with held_by_another_process(tmp_path) as child, pytest.raises(
            StateError, match=rf"must be upgraded, and .* in use by another engine "
                              rf"\(pid {child.pid} "):
        open_store(tmp_path)
    assert old_keys(tmp_path) == ["journal:000000000001", "journal:000000000002",
                                  "journal:next"]
    assert journal_tables(tmp_path) == set()  # nothing was created before the lock
    store = open_store(tmp_path)  # once it is free
    assert ids(store.journal_since(0)) == [(1, "old-1"), (2, "old-2")]
    store.close()


def journal_tables(directory: Path) -> set[str]:
    with sqlite3.connect(directory / DBNAME) as con:
        return {str(name) for (name,) in con.execute(
            "SELECT name FROM sqlite_master WHERE name LIKE 'livetrade%'")}


def test_looking_at_an_old_store_does_not_upgrade_it(tmp_path: Path) -> None:
    # ``livetrade state show`` / ``verify``: an older livetrade must still open the store.
    schema_1_store(tmp_path, first=2, last=3)
    store = StateStore.open_existing(tmp_path)
    assert ids(store.journal_since(1)) == [(2, "old-2"), (3, "old-3")]
    assert store.verify() == []
    with pytest.raises(StateError, match="opened read-only"):
        append(store, "new")
    with pytest.raises(StateError, match="opened read-only"):
        store.save_checkpoint_text(1, 3, "{}")
    assert store.checkpoint_numbers() == []  # refused before anything was written
    assert store.meta()["schema_version"] == 1
    store.close()
    assert journal_tables(tmp_path) == set()
    assert old_keys(tmp_path) == ["journal:000000000002", "journal:000000000003",
                                  "journal:first", "journal:next"]


@pytest.mark.parametrize("damage", [
    "DELETE FROM livetrade_journal_meta",                                    # counters lost
    "UPDATE livetrade_journal_meta SET value = 1 WHERE key = 'last'",         # behind entries
    "UPDATE livetrade_journal_meta SET value = 'x' WHERE key = 'first'",      # not a number
    "DROP TABLE livetrade_journal_meta",                                      # table lost
])
def test_damaged_counters_are_refused_never_restarted_from_one(tmp_path: Path,
                                                                damage: str) -> None:
    store = open_store(tmp_path)
    for k in range(1, 4):
        append(store, f"s-{k}")
    store.close()
    with sqlite3.connect(tmp_path / DBNAME) as con:
        con.execute(damage)
    with pytest.raises(StateError, match=r"journal .* cannot be opened: the journal's"):
        open_store(tmp_path)


def test_a_checkpoint_covering_entries_the_journal_lost_stops_the_restore(
        tmp_path: Path) -> None:
    store = open_store(tmp_path)
    append(store, "s-1")
    with pytest.raises(StateError, match="after entry 5, past its end 1"):
        store.journal_since(5)  # what recovery asks for a checkpoint that covers entry 5
    store.close()
