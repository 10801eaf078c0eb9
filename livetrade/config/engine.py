"""The ``[engine]`` and ``[logging]`` tables: how the engine process itself runs.

Dispatcher, lifecycle and interpreter tuning, and the log format; nothing about venues,
feeds or strategies.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from livetrade.config.base import _Section
from livetrade.switch_interval import DEFAULT_SWITCH_INTERVAL_S


class EngineSection(_Section):
    """``[engine]``: dispatcher and lifecycle tuning."""

    market_data_policy: Literal["conflate", "block"] = "conflate"
    conflate_depth: int = Field(10_000, gt=0)
    max_pending_market_data: int = Field(1_000, gt=0)
    stop_timeout_s: float = Field(10.0, gt=0)
    status_interval_s: float = Field(1.0, gt=0)
    closed_orders_kept: int = Field(10_000, gt=0)
    order_id_prefix: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{1,16}$")
    gc_tuning: bool = True  # freeze startup objects, young GC threshold 10,000 (gc_tuning.py)
    # GIL switch interval while the engine runs (switch_interval.py); 0 leaves it alone
    switch_interval_s: float = Field(DEFAULT_SWITCH_INTERVAL_S, ge=0, le=1)


class LoggingSection(_Section):
    """``[logging]``: ``console`` for a terminal, ``json`` for supervisord."""

    format: Literal["console", "json"] = "console"
    level: Literal["debug", "info", "warning", "error"] = "info"
