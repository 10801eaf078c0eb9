"""From the validated ``[monitoring]`` config section to :class:`MonitoringSettings`.

Kept here, not in ``livetrade.app``, so the section's meaning lives beside the monitor.
Webhook URLs named by ``url_env`` are read from the environment now; a missing variable
is a ``ConfigError`` that names the variable, never a value.
"""

from __future__ import annotations

import os

from livetrade.config import LiveTradeConfig
from livetrade.errors import ConfigError
from livetrade.monitoring.settings import (
    AlertRule,
    MonitoringSettings,
    WebhookSettings,
    default_rules,
)


def monitoring_settings(config: LiveTradeConfig) -> MonitoringSettings:
    """Settings for ``config.monitoring``; raises ``ConfigError`` for a missing URL."""
    m = config.monitoring
    rules = default_rules() if m.alerts is None else tuple(
        AlertRule(a.kind, a.severity, a.count, a.window_s, a.max_age_s, a.limit,
                  tuple(a.modes)) for a in m.alerts)
    hooks: list[WebhookSettings] = []
    problems: list[str] = []
    for i, w in enumerate(m.webhooks):
        url = w.url
        if w.url_env is not None:
            url = os.environ.get(w.url_env) or None
            if url is None:
                problems.append(f"monitoring.webhooks.{i}: environment variable "
                                f"{w.url_env} is not set")
                continue
        if not url:
            problems.append(f"monitoring.webhooks.{i}: give url or url_env")
            continue
        hooks.append(WebhookSettings(url, w.format, w.timeout_s))
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in [monitoring]", problems)
    return MonitoringSettings(
        http_port=m.http_port, bind_host=m.bind_host, allow_non_loopback=m.allow_non_loopback,
        token_env=m.token_env, heartbeat_interval_s=m.heartbeat_interval_s,
        liveness_timeout_s=m.liveness_timeout_s, poll_interval_s=m.poll_interval_s,
        hook_queue_size=m.hook_queue_size, feed_stale_s=m.feed_stale_s, alerts=rules,
        webhooks=tuple(hooks), alert_dedup_s=m.alert_dedup_s,
        alerts_per_minute=m.alerts_per_minute, webhook_attempts=m.webhook_attempts,
        webhook_retry_initial_s=m.webhook_retry_initial_s, marker_dir=m.marker_dir)
