"""One engine per state directory: a lock that the operating system drops when its process dies.

Why: two engines restoring the same checkpoint would both believe they own the book and
both trade it, doubling every order. An operator starting a second copy, or a supervisor
starting a new process while the old one still hangs in its stop, must be refused, with
who holds the directory and what to do.

How: a POSIX record lock (``fcntl.lockf``) on ``<directory>.lock``, a file beside the
directory (inside it, diskcache's integrity check would call it an unknown file). The kernel drops
it when the process ends, ``kill -9`` included, so a crash never leaves a stale lock for
somebody to delete by hand. It belongs to the process, not to a file descriptor, so one
process may hold a directory for several engines in turn (an engine rebuilt in-process, a
test that abandons one engine to simulate a crash and restores another): holders are
counted here and the lock is given back when the last one releases. Because closing *any*
descriptor of the file drops a POSIX lock, this module opens each directory's lock file
once per process and never again while it is held.

The lock file holds one line saying who has it (pid, host, since when), written after the
lock is taken; a refusal quotes it. Read-only tools (``livetrade state show``/``verify``)
take no lock; ``livetrade state reset`` refuses while another process holds it.
"""

from __future__ import annotations

import fcntl
import os
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from livetrade.errors import StateError

LOCK_SUFFIX = ".lock"


def lock_file(directory: Path) -> Path:
    """The lock file of a state directory: ``<directory>.lock``, beside it."""
    key = directory.resolve()
    return key.with_name(key.name + LOCK_SUFFIX)


@dataclass
class _Held:
    handle: IO[str]
    holders: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


class DirectoryLock:
    """This process's claim on one state directory; :meth:`release` it once when done.

    See the module docstring for why it exists and why it is counted per process.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._released = False

    @property
    def released(self) -> bool:
        return self._released

    def release(self) -> None:
        """Give this claim back; the lock itself goes when the process's last claim does.
        Releasing twice is a no-op."""
        with _guard:
            if self._released:
                return
            self._released = True
            held = _held.get(self.directory)
            if held is None:
                return
            held.holders -= 1
            if held.holders == 0:
                del _held[self.directory]
                try:
                    fcntl.lockf(held.handle, fcntl.LOCK_UN)
                finally:
                    held.handle.close()


def _key(directory: Path) -> Path:
    return directory.resolve()


def lock_directory(directory: Path) -> DirectoryLock:
    """Claim ``directory`` for this process's engine. Never blocks.

    Raises ``StateError`` if another process holds it, naming that process.
    """
    key = _key(directory)
    with _guard:
        held = _held.get(key)
        if held is not None:
            held.holders += 1
            return DirectoryLock(key)
        handle = _open(key)
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read(handle)
            handle.close()
            raise StateError(
                f"state directory {key} is in use by another engine ({holder})",
                directory=str(key), lock_file=str(lock_file(key)),
                hint="stop that engine first, or give this one its own [state] directory; "
                     "the lock goes away by itself when that process ends") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"pid {os.getpid()} on {socket.gethostname()} since "
                         f"{datetime.now(UTC).isoformat(timespec='seconds')}\n")
            handle.flush()
        except OSError as exc:
            fcntl.lockf(handle, fcntl.LOCK_UN)
            handle.close()
            raise StateError(f"state directory lock {lock_file(key)} cannot be written: "
                             f"{exc}", directory=str(key)) from exc
        _held[key] = _Held(handle, 1)
        return DirectoryLock(key)


def holder(directory: Path) -> str | None:
    """Who holds ``directory`` if another process does (the lock file's line), else None.
    Never blocks and never keeps the lock."""
    key = _key(directory)
    if not lock_file(key).exists():
        return None
    with _guard:
        if key in _held:
            return None  # this process: not "another engine"
        handle = _open(key)
        try:
            fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return _read(handle)
        finally:
            handle.close()  # also drops the probe's lock, which nobody else shares
        return None


def _open(key: Path) -> IO[str]:
    try:
        key.parent.mkdir(parents=True, exist_ok=True)
        return lock_file(key).open("a+", encoding="utf-8")
    except OSError as exc:
        raise StateError(f"state directory {key} cannot be locked: {exc}",
                         directory=str(key)) from exc


def _read(handle: IO[str]) -> str:
    try:
        handle.seek(0)
        line = handle.readline().strip()
    except OSError:
        line = ""
    return line or "a process that has not said who it is yet"
