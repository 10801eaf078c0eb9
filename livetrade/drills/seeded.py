"""A drill strategy whose random order flow survives a restart.

Why: the crash drills kill the engine at random instants and let recovery restore the
strategy through ``get_state``/``set_state``; a strategy that restarted its random stream
from the same seed would replay the same decisions after every kill. The state is one draw
of the stream, which reseeds it after a restore, so a restored run goes on differently.
"""

from __future__ import annotations

import random
from typing import Any

from livetrade.strategy import Strategy


class SeededStrategy(Strategy):
    """A strategy with a seeded ``_rng`` kept across checkpoints (see the module doc)."""

    def __init__(self, seed: int = 1) -> None:
        self._rng = random.Random(seed)

    def set_state(self, state: dict[str, Any]) -> None:
        self._rng = random.Random(int(state.get("draws", 0)) + 1)

    def get_state(self) -> dict[str, Any]:
        return {"draws": self._rng.randrange(1 << 30)}
