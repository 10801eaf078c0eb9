"""The ``[state]`` table: what is persisted, how often, and how a restart reconciles it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field

from livetrade.config.base import NonNegDecimal, _Section


class StateSection(_Section):
    """``[state]``: crash-safe state. Without ``directory`` nothing is persisted."""

    directory: Path | None = None
    account_id: str = Field("paper", min_length=1)
    strategy_id: str | None = None  # default: the strategy path
    checkpoint_interval_s: float = Field(60.0, ge=0)
    debounce_s: float = Field(0.5, ge=0)
    keep_checkpoints: int = Field(10, ge=1)
    stale_checkpoint_s: float = Field(3600.0, gt=0)
    fall_back_to_previous: bool = True
    reconcile_policy: Literal["adopt_broker", "halt", "warn"] = "adopt_broker"
    reconcile_interval_s: float = Field(300.0, ge=0)  # live brokers; 0 = only on request
    # What changed this recently is in flight, not missing: a submit whose answer was lost
    # and never landed is closed by the first reconciliation after this long.
    reconcile_grace_s: float = Field(30.0, ge=0)
    cash_tolerance: NonNegDecimal = Decimal("0.01")
