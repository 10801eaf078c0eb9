"""The ``[resilience]`` table: retries, breakers, timeouts, degrading and the kill switch
that guard a live broker."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from livetrade.config.base import _Section


class ResilienceSection(_Section):
    """``[resilience]``: how a live (non-paper) broker is guarded.

    Retries wait ``retry_initial_s * retry_multiplier**n`` capped at ``retry_max_s``
    (1, 2, 4, 8, 16 s by default); a submit is tried at most ``submit_attempts`` times and
    only after the venue said the order is not there. Breakers trip after
    ``breaker_fail_max`` consecutive transient failures and probe after
    ``breaker_reset_timeout_s``. With ``degrade_to_paper`` an outage longer than
    ``degrade_after_s`` moves new orders to a shadow paper venue until the broker is back
    (``resume_policy``). The kill switch trips after ``kill_after_rejects`` rejects within
    ``reject_window_s``, or when equity falls ``max_drawdown`` (a fraction) below its peak.
    """

    retry_attempts: int = Field(6, ge=1)
    retry_initial_s: float = Field(1.0, ge=0)
    retry_multiplier: float = Field(2.0, ge=1)
    retry_max_s: float = Field(16.0, ge=0)
    retry_jitter_s: float = Field(0.0, ge=0)
    retry_deadline_s: float | None = Field(None, gt=0)
    submit_attempts: int = Field(3, ge=1)
    lookup_delay_s: float = Field(1.0, ge=0)  # after a failed submit, before the lookup
    breaker_fail_max: int = Field(5, ge=1)
    breaker_reset_timeout_s: float = Field(30.0, gt=0)
    submit_timeout_s: float = Field(30.0, gt=0)
    cancel_timeout_s: float = Field(10.0, gt=0)
    positions_timeout_s: float = Field(10.0, gt=0)
    account_timeout_s: float = Field(10.0, gt=0)
    connect_timeout_s: float = Field(30.0, gt=0)
    degrade_to_paper: bool = True
    degrade_after_s: float = Field(60.0, gt=0)
    probe_interval_s: float = Field(5.0, gt=0)
    resume_policy: Literal["manual", "flatten_shadow"] = "manual"
    kill_after_rejects: int | None = Field(None, ge=1)
    reject_window_s: float = Field(300.0, gt=0)
    max_drawdown: Annotated[Decimal, Field(gt=0, lt=1)] | None = None
