"""Monitoring: Prometheus metrics, hooks, health/readiness/status over HTTP, webhook alerts.

Build an :class:`EngineMonitor` and pass it to the engine (``monitor=``); ``livetrade run``
does this from the ``[monitoring]`` config section. See ``monitor``'s module docstring for
the thread model and ``docs/architecture/live-trading.md`` for the metric catalogue.
"""

from livetrade.monitoring.hooks import HOOK_NAMES, HookName, MonitorEvent
from livetrade.monitoring.monitor import EngineMonitor, MonitorHeartbeat
from livetrade.monitoring.settings import AlertRule, MonitoringSettings, WebhookSettings

__all__ = ["HOOK_NAMES", "AlertRule", "EngineMonitor", "HookName", "MonitorEvent",
           "MonitorHeartbeat", "MonitoringSettings", "WebhookSettings"]
