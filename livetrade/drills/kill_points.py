"""When the crash drills pull the trigger: at start-up, at a random instant of trading, or
right after the engine journaled an order intent (before the venue's answer is booked).

The engine's own files are the only signals: its JSON log (``engine_started``) and its
state store's journal sequence, so the drill needs no hook inside the engine.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path


def wait_for_event(log: Path, offset: int, event: str, deadline_s: float) -> bool:
    """True once a JSON log line written after ``offset`` carries ``"event": event``."""
    needle = f'"event": "{event}"'
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if log.exists():
            with log.open("rb") as handle:
                handle.seek(offset)
                if needle in handle.read().decode(errors="replace"):
                    return True
        time.sleep(0.05)
    return False


def kill_soon(kill: Callable[[], None], state_dir: Path, log: Path, offset: int,
              rng: random.Random, *, min_s: float, max_s: float,
              startup_share: float = 0.1, wait_started: bool = True) -> str:
    """SIGKILL the engine (``kill``) at one of three kinds of instant: during start-up and
    recovery (``startup_share`` of the rounds), at a random moment of trading, or the
    moment the journal grows after a random delay (right after an intent was written,
    before the venue's answer was booked). With ``wait_started`` the random delay counts
    from the engine's ``engine_started`` log line after ``offset``. Returns the kind."""
    if rng.random() < startup_share:
        time.sleep(rng.uniform(0, 3))
        kill()
        return "startup"
    if wait_started:
        wait_for_event(log, offset, "engine_started", 60)
    time.sleep(rng.uniform(min_s, max_s))
    mode = "random"
    if rng.random() < 0.5 and wait_for_intent(state_dir, 20):
        mode = "after_intent"
    kill()
    return mode


def wait_for_intent(state_dir: Path, deadline_s: float) -> bool:
    """Block until the engine's journal grows (a new intent or answer); False on timeout."""
    from livetrade.errors import StateError
    from livetrade.state.store import StateStore

    try:
        store = StateStore.open_existing(state_dir)
    except StateError:
        return False
    try:
        start = store.journal_sequence()
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            if store.journal_sequence() > start:
                return True
            time.sleep(0.001)
        return False
    finally:
        store.close()


def journal_sequence(state_dir: Path) -> int:
    from livetrade.errors import StateError
    from livetrade.state.store import StateStore

    try:
        store = StateStore.open_existing(state_dir)
    except StateError:
        return 0
    try:
        return store.journal_sequence()
    finally:
        store.close()
