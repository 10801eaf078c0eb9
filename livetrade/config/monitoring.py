"""The ``[monitoring]`` table with its ``alerts`` and ``webhooks``: metrics, alert rules,
where alerts go, and the HTTP endpoint.

Only validation lives here; ``livetrade.monitoring.config`` turns these sections into the
monitor's plain settings.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, field_validator

from livetrade.config.base import _Section


class AlertSection(_Section):
    """``[[monitoring.alerts]]``: one alert rule (see ``livetrade.monitoring.settings``)."""

    kind: Literal["breaker_opened", "rejects", "reconciliation_mismatch",
                  "reconciliation_failed", "feed_stale", "checkpoint_stale", "mode_change",
                  "drawdown", "engine_restarted"]
    severity: Literal["info", "warning", "critical"] = "warning"
    count: int = Field(5, ge=1)
    window_s: float = Field(300.0, gt=0)
    max_age_s: float = Field(120.0, gt=0)
    limit: Annotated[Decimal, Field(gt=0, lt=1)] = Decimal("0.1")
    modes: tuple[Literal["shadow", "halted"], ...] = ("shadow", "halted")


class WebhookSection(_Section):
    """``[[monitoring.webhooks]]``: ``url_env`` names the variable holding the URL (Slack
    and Discord URLs are secrets); ``url`` is for a local receiver with nothing secret."""

    url: str | None = None
    url_env: str | None = None
    format: Literal["json", "slack", "discord"] = "json"
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("url_env")
    @classmethod
    def _one_source(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("url_env must name an environment variable")
        return value


class MonitoringSection(_Section):
    """``[monitoring]``: metrics, hooks, alerts and the HTTP endpoint (off unless
    ``enabled``). ``http_port`` starts ``/metrics /healthz /readyz /status`` on
    ``bind_host`` (loopback unless ``allow_non_loopback``); the bearer token comes from
    the variable named by ``token_env``. No ``[[monitoring.alerts]]``: every rule, default
    thresholds."""

    enabled: bool = False
    http_port: int | None = Field(None, ge=0, le=65535)
    bind_host: str = "127.0.0.1"
    allow_non_loopback: bool = False
    token_env: str = "LIVETRADE_MONITOR_TOKEN"
    heartbeat_interval_s: float = Field(1.0, gt=0)
    liveness_timeout_s: float = Field(10.0, gt=0)
    poll_interval_s: float = Field(1.0, gt=0)
    hook_queue_size: int = Field(10_000, ge=1)
    feed_stale_s: float = Field(60.0, gt=0)
    alert_dedup_s: float = Field(600.0, ge=0)
    alerts_per_minute: int = Field(20, ge=1)
    webhook_attempts: int = Field(4, ge=1)
    webhook_retry_initial_s: float = Field(1.0, ge=0)
    marker_dir: Path | None = None  # default: [state] directory (no marker without either)
    alerts: list[AlertSection] | None = None
    webhooks: list[WebhookSection] = Field(default_factory=list)
