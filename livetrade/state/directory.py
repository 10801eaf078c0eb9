"""A state store's directory: opening its diskcache, checking whose it is, moving it aside.

Why a module of its own: deciding that a directory holds *this* engine's store (the ``meta``
key: schema version, account, strategy) and opening the cache with the store's settings
(eviction off, checkpoint text written in pieces) change for their own reasons (a new
schema, a new identity field, new cache settings), not with how checkpoints, the journal or
reports are kept. :class:`livetrade.state.store.StateStore` calls these before it reads
anything; ``livetrade state reset`` calls :func:`move_aside`.

The ``meta`` key::

    meta    {"schema_version", "account_id", "strategy_id", "created_at"}

Everything here blocks on disk I/O and raises ``StateError`` with the directory.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from livetrade.errors import StateError
from livetrade.state.pieces import PiecesDisk
from livetrade.state.records import SCHEMA_VERSION


def open_cache(directory: Path) -> Any:
    """The store's ``diskcache.Cache`` in ``directory`` (created if missing). Blocks on disk."""
    import diskcache

    try:
        directory.mkdir(parents=True, exist_ok=True)
        return diskcache.Cache(str(directory), eviction_policy="none",
                               size_limit=2**62, disk=PiecesDisk)
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StateError(
            f"state store at {directory} cannot be opened: {exc}",
            directory=str(directory),
            hint="run 'livetrade state verify'; if it is corrupt, "
                 "'livetrade state reset --yes' moves it aside",
        ) from exc


def check_meta(cache: Any, get: Callable[[str], Any], directory: Path, *,
               account_id: str, strategy_id: str) -> int:
    """Check the store's metadata (or write it, for a new store); its schema version.

    ``get`` is the store's checked read of ``cache``. Refuses (``StateError``) a store of
    another account or strategy, or one written by a newer schema.
    """
    raw = get("meta")
    if raw is None:
        meta = {"schema_version": SCHEMA_VERSION, "account_id": account_id,
                "strategy_id": strategy_id,
                "created_at": datetime.now(UTC).isoformat()}
        try:
            cache.set("meta", json.dumps(meta))
        except (sqlite3.Error, OSError) as exc:
            raise StateError(f"state store metadata cannot be written: {exc}",
                             directory=str(directory)) from exc
        return SCHEMA_VERSION
    try:
        meta = json.loads(raw)
        version = int(meta["schema_version"])
        account, strategy = str(meta["account_id"]), str(meta["strategy_id"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StateError("state store metadata is unreadable",
                         directory=str(directory)) from exc
    if version > SCHEMA_VERSION:
        raise StateError(
            f"state store was written by a newer livetrade (schema {version} > "
            f"{SCHEMA_VERSION})", directory=str(directory),
            hint="upgrade livetrade, or move the store aside with 'livetrade state reset'")
    if account != account_id or strategy != strategy_id:
        raise StateError(
            f"state store belongs to account {account!r} / strategy {strategy!r}, not "
            f"{account_id!r} / {strategy_id!r}", directory=str(directory),
            hint="point state.directory at this engine's own store")
    return version


def read_meta_text(path: Path) -> Any:
    """The raw ``meta`` value of the existing store in ``path`` (``None`` if it has none),
    read without opening the store itself. Raises ``StateError`` if there is no store."""
    if not (path / "cache.db").exists():
        raise StateError(f"no state store at {path}", directory=str(path),
                         hint="pass the [state] directory of the engine's config")
    import diskcache

    try:
        with diskcache.Cache(str(path), eviction_policy="none") as cache:
            return cache.get("meta")
    except (sqlite3.DatabaseError, OSError) as exc:
        raise StateError(f"state store at {path} cannot be opened: {exc}",
                         directory=str(path),
                         hint="'livetrade state reset --yes' moves it aside") from exc


def move_aside(directory: str | Path) -> Path:
    """Rename a store directory to ``<name>.reset-<UTC time>`` (never delete). Returns it."""
    source = Path(directory)
    if not source.exists():
        raise StateError(f"no state store at {source}", directory=str(source))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = source.with_name(f"{source.name}.reset-{stamp}")
    shutil.move(str(source), str(target))
    return target
