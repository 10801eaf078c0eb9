"""Monitoring settings: plain frozen dataclasses, so the monitor needs no config parser.

``livetrade.config`` validates the ``[monitoring]`` TOML section and ``livetrade.app`` turns
it into these; tests and embedded users build them directly. Field names carry units.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Literal

RuleKind = Literal[
    "breaker_opened", "rejects", "reconciliation_mismatch", "reconciliation_failed",
    "feed_stale", "checkpoint_stale", "mode_change", "drawdown", "engine_restarted",
]
ALL_RULES: tuple[RuleKind, ...] = (
    "breaker_opened", "rejects", "reconciliation_mismatch", "reconciliation_failed",
    "feed_stale", "checkpoint_stale", "mode_change", "drawdown", "engine_restarted",
)
WebhookFormat = Literal["json", "slack", "discord"]


@dataclass(frozen=True)
class AlertRule:
    """One alerting rule. Only the thresholds its ``kind`` uses matter.

    ``rejects``: ``count`` rejects within ``window_s``. ``feed_stale``/``checkpoint_stale``:
    silence or age past ``max_age_s``. ``drawdown``: equity ``limit`` (a fraction) below its
    peak. ``mode_change``: entering any of ``modes``. The rest fire on the signal itself.
    """

    kind: RuleKind
    severity: Literal["info", "warning", "critical"] = "warning"
    count: int = 5
    window_s: float = 300.0
    max_age_s: float = 120.0
    limit: Decimal = Decimal("0.1")
    modes: tuple[str, ...] = ("shadow", "halted")


@dataclass(frozen=True)
class WebhookSettings:
    """Where alerts go. ``url`` may come from the environment (``url_env``), because a
    Slack or Discord webhook URL is itself a secret; it never appears in any output."""

    url: str
    format: WebhookFormat = "json"
    timeout_s: float = 5.0


def default_rules() -> tuple[AlertRule, ...]:
    """Every rule with its default thresholds (used when the config lists none)."""
    return tuple(AlertRule(kind) for kind in ALL_RULES)


@dataclass(frozen=True)
class MonitoringSettings:
    """``[monitoring]``. ``http_port = None`` runs no HTTP server; ``0`` picks a free port.

    ``bind_host`` must be a loopback address unless ``allow_non_loopback`` is set: the
    endpoint shows positions and orders. ``token_env`` names the environment variable that
    holds the bearer token for everything but ``/healthz`` (unset variable: no token).
    """

    http_port: int | None = None
    bind_host: str = "127.0.0.1"
    allow_non_loopback: bool = False
    token_env: str = "LIVETRADE_MONITOR_TOKEN"
    heartbeat_interval_s: float = 1.0
    liveness_timeout_s: float = 10.0
    poll_interval_s: float = 1.0
    hook_queue_size: int = 10_000
    feed_stale_s: float = 60.0
    recent_errors: int = 20
    alerts: tuple[AlertRule, ...] = field(default_factory=default_rules)
    webhooks: tuple[WebhookSettings, ...] = ()
    alert_dedup_s: float = 600.0
    alerts_per_minute: int = 20
    webhook_attempts: int = 4
    webhook_retry_initial_s: float = 1.0
    marker_dir: Path | None = None  # where the "running" marker lives; default: state dir
