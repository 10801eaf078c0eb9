"""The paper venue store's directory: its layout, its exclusive lock, and a no-pickle cache.

:class:`~livetrade.brokers.paper_store.VenueStore` decides *what* the venue keeps (keys,
records, one transaction per change); this module owns *where* and *how safely* it is kept,
which changes for other reasons (the operating system's locking, diskcache's storage modes):

``store_dir`` holds three entries: ``cache/`` (the diskcache directory, nothing else in
it), ``paper-venue.json`` (the meta, written once: an emptied or truncated database is
then told apart from a new store) and ``paper-venue.lock`` (an exclusive ``flock`` held
while open: two venues on one store would diverge).

Nothing here runs at import time: diskcache and fcntl are imported on first use.
"""

from __future__ import annotations

import sqlite3
from functools import cache
from pathlib import Path
from typing import IO, Any

from livetrade.errors import StateError

__all__ = [
    "CACHE",
    "LOCK",
    "MARKER",
    "open_directory",
    "release_lock",
    "store_error",
    "write_marker",
]

MARKER = "paper-venue.json"
LOCK = "paper-venue.lock"
CACHE = "cache"


def store_error(directory: Path, message: str, **context: Any) -> StateError:
    """The ``StateError`` of every store failure: it names the store's directory."""
    return StateError(message, directory=str(directory), **context)


@cache
def _no_pickle_disk() -> type[Any]:
    """A diskcache ``Disk`` that stores only ``str``/``int`` and refuses to unpickle.

    diskcache unpickles any value stored in pickle mode when it is read; a store directory
    is untrusted input (edited, foreign), so a pickled key or value is refused instead.
    Built on first use so importing this module does not import diskcache.
    """
    import diskcache
    from diskcache.core import MODE_PICKLE

    class NoPickleDisk(diskcache.Disk):  # type: ignore[misc]
        def put(self, key: Any) -> Any:
            if type(key) is not str:
                raise TypeError("paper venue store keys are str")
            return super().put(key)

        def get(self, key: Any, raw: bool) -> Any:
            if not raw:
                raise StateError("paper venue store holds a pickled key; refusing to load it")
            return super().get(key, raw)

        def store(self, value: Any, read: bool, key: Any = diskcache.core.UNKNOWN) -> Any:
            if read or type(value) not in (str, int):
                raise TypeError("paper venue store values are JSON text")
            return super().store(value, read, key=key)

        def fetch(self, mode: int, filename: Any, value: Any, read: bool) -> Any:
            if mode == MODE_PICKLE:
                raise StateError("paper venue store holds a pickled value; refusing to load it")
            return super().fetch(mode, filename, value, read)

    return NoPickleDisk


def open_directory(directory: Path) -> tuple[IO[str], Any]:
    """Check ``directory`` (creating it if absent), take its lock, open its cache.

    Returns the held lock file and the ``diskcache.Cache``; on any failure nothing is
    held. ``StateError`` for a directory that is not a paper venue store's, in use, or
    unopenable. Blocks on disk I/O.
    """
    _check_directory(directory)
    lock_file = _acquire_lock(directory)
    try:
        return lock_file, _open_cache(directory)
    except BaseException:
        release_lock(lock_file)
        raise


def _check_directory(d: Path) -> None:
    if not d.exists():
        try:
            d.mkdir(parents=True)
        except OSError as exc:
            raise store_error(d, f"paper venue store cannot be created: {exc}") from exc
        return
    if not d.is_dir():
        raise store_error(d, "paper venue store_dir is not a directory")
    names = {p.name for p in d.iterdir()}
    if names and not names & {CACHE, MARKER}:
        raise store_error(d, "store_dir holds other files and no paper venue store (is it "
                             "the engine's state directory?)",
                          hint="give the paper broker its own, empty store_dir")


def _acquire_lock(directory: Path) -> IO[str]:
    import fcntl

    try:
        handle = (directory / LOCK).open("a+", encoding="utf-8")
    except OSError as exc:
        raise store_error(directory, f"paper venue store cannot be locked: {exc}") from exc
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise store_error(directory, "paper venue store is in use by another PaperBroker",
                          hint="close() the other one, or stop the process using it"
                          ) from exc
    return handle


def release_lock(lock_file: IO[str]) -> None:
    """Release the lock taken by :func:`open_directory` and close its file."""
    import fcntl

    try:
        fcntl.flock(lock_file.fileno(), fcntl.LOCK_UN)
    finally:
        lock_file.close()


def _open_cache(directory: Path) -> Any:
    import diskcache

    try:
        return diskcache.Cache(str(directory / CACHE), disk=_no_pickle_disk(),
                               eviction_policy="none", size_limit=2**62,
                               disk_min_file_size=2**30)
    except (sqlite3.Error, OSError) as exc:
        raise store_error(directory, f"paper venue store cannot be opened: {exc}",
                          hint="move the directory aside to start a fresh venue") from exc


def write_marker(directory: Path, meta_text: str) -> None:
    """Write ``paper-venue.json``: the store's meta, once it is committed."""
    try:
        (directory / MARKER).write_text(meta_text + "\n", encoding="utf-8")
    except OSError as exc:
        raise store_error(directory, f"paper venue store marker cannot be written: {exc}"
                          ) from exc
