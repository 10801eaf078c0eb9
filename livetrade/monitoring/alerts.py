"""Alerts: rules decide, :class:`AlertManager` deduplicates and rate-limits, and
:class:`WebhookSender` delivers from its own thread with tenacity retries.

Why the split: deciding is cheap and happens where the signal arrives (often the
dispatcher thread); delivering is slow network I/O and must never block trading, so it
sits behind a bounded queue. A flapping condition sends one alert per ``dedup_s`` per
subject; a storm of different alerts is cut at ``alerts_per_minute`` (the rest counted).
Webhook URLs are secrets (Slack/Discord URLs carry their token): they are never logged.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from livetrade.monitoring.settings import AlertRule, RuleKind, WebhookSettings

_log = structlog.get_logger("livetrade.monitoring.alerts")


@dataclass(frozen=True)
class Alert:
    """One alert as delivered. ``subject`` is what deduplication keys on with ``rule``."""

    rule: RuleKind
    subject: str
    severity: str
    message: str
    at: datetime
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.rule, "subject": self.subject, "severity": self.severity,
                "message": self.message, "at": self.at.isoformat(), "details": self.details}


def payload(alert: Alert, fmt: str, source: str) -> dict[str, Any]:
    """The JSON body for a webhook format: generic, Slack (``text``) or Discord (``content``)."""
    text = f"[{alert.severity.upper()}] {source}: {alert.rule} ({alert.subject}): {alert.message}"
    if fmt == "slack":
        return {"text": text}
    if fmt == "discord":
        return {"content": text[:2000]}
    return {"source": source, **alert.to_dict()}


class _Retryable(Exception):
    """A delivery failure worth retrying (connection error, timeout, 5xx, 429)."""


class WebhookSender:
    """Delivers alerts to every webhook from one thread. ``send`` never blocks.

    ``sleep`` is injected (tests record the waits); by default it waits on the stop event,
    so shutdown interrupts a backoff at once.
    """

    def __init__(self, webhooks: tuple[WebhookSettings, ...], *, source: str = "livetrade",
                 attempts: int = 4, retry_initial_s: float = 1.0, capacity: int = 1000,
                 sleep: Callable[[float], None] | None = None,
                 on_sent: Callable[[Alert], None] | None = None,
                 on_failed: Callable[[Alert], None] | None = None) -> None:
        self._webhooks = webhooks
        self._source = source
        self._attempts = attempts
        self._retry_initial_s = retry_initial_s
        self._queue: queue.Queue[Alert | None] = queue.Queue(capacity)
        self._stop = threading.Event()
        self._sleep: Callable[[float], None] = sleep or self._wait
        self._on_sent = on_sent
        self._on_failed = on_failed
        self._thread: threading.Thread | None = None
        self.sent = 0
        self.failed = 0
        self.dropped = 0

    def _wait(self, seconds: float) -> None:
        self._stop.wait(seconds)

    def send(self, alert: Alert) -> None:
        if not self._webhooks:
            return
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            _log.warning("alert_dropped_queue_full", rule=alert.rule)

    def start(self) -> None:
        if self._thread is None and self._webhooks:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="livetrade-alerts",
                                            daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued within ``timeout_s``, then stop. Blocks."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            _log.warning("alert_queue_full_at_stop")
        thread.join(timeout_s)
        self._stop.set()
        thread.join(timeout_s)

    def _run(self) -> None:
        while True:
            alert = self._queue.get()
            if alert is None:
                return
            for index, hook in enumerate(self._webhooks):
                try:
                    self._deliver(hook, alert)
                    self.sent += 1
                    if self._on_sent is not None:
                        self._on_sent(alert)
                except Exception as exc:  # noqa: BLE001 - one bad webhook must not stop others
                    self.failed += 1
                    # The URL is a secret: name the webhook by its position only.
                    _log.error("alert_delivery_failed", webhook=index, rule=alert.rule,
                               error=type(exc).__name__)
                    if self._on_failed is not None:
                        self._on_failed(alert)

    def _deliver(self, hook: WebhookSettings, alert: Alert) -> None:
        body = json.dumps(payload(alert, hook.format, self._source)).encode()
        retrying = Retrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=self._retry_initial_s, max=60),
            retry=retry_if_exception_type(_Retryable), sleep=self._sleep, reraise=True)
        retrying(self._post, hook, body)

    @staticmethod
    def _post(hook: WebhookSettings, body: bytes) -> None:
        request = urllib.request.Request(hook.url, data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=hook.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            if exc.code >= 500 or exc.code == 429:
                raise _Retryable(f"HTTP {exc.code}") from None
            raise
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            raise _Retryable(type(exc).__name__) from None


class AlertManager:
    """Decides which alerts go out: enabled rule, not a duplicate, under the rate limit.

    Thread-safe (one lock, held only for bookkeeping). ``monotonic`` and ``now`` are
    injected. Condition rules (stale feed, drawdown) call :meth:`fire` on every check while
    the condition holds and :meth:`clear` when it ends, so the next episode alerts again.
    """

    def __init__(self, rules: tuple[AlertRule, ...], deliver: Callable[[Alert], None], *,
                 dedup_s: float = 600.0, per_minute: int = 20,
                 monotonic: Callable[[], float] = time.monotonic,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 on_suppressed: Callable[[str], None] | None = None) -> None:
        self.rules: dict[str, AlertRule] = {r.kind: r for r in rules}
        self._deliver = deliver
        self._dedup_s = dedup_s
        self._per_minute = per_minute
        self._monotonic = monotonic
        self._now = now
        self._on_suppressed = on_suppressed
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], float] = {}
        self._recent: deque[float] = deque()
        self._rejects: deque[float] = deque()
        self.fired: list[Alert] = []

    def fire(self, kind: RuleKind, subject: str, message: str,
             details: dict[str, Any] | None = None) -> bool:
        """Send an alert for ``kind`` unless disabled, duplicate or rate-limited."""
        rule = self.rules.get(kind)
        if rule is None:
            return False
        now = self._monotonic()
        with self._lock:
            last = self._last.get((kind, subject))
            if last is not None and now - last < self._dedup_s:
                reason = "duplicate"
            else:
                while self._recent and now - self._recent[0] >= 60.0:
                    self._recent.popleft()
                reason = "rate_limited" if len(self._recent) >= self._per_minute else ""
            if not reason:
                self._last[(kind, subject)] = now
                self._recent.append(now)
        if reason:
            if self._on_suppressed is not None:
                self._on_suppressed(reason)
            return False
        alert = Alert(kind, subject, rule.severity, message, self._now(), details or {})
        self.fired.append(alert)
        del self.fired[:-100]
        _log.warning("alert", rule=kind, subject=subject, message=message)
        self._deliver(alert)
        return True

    def clear(self, kind: RuleKind, subject: str) -> None:
        """The condition behind ``(kind, subject)`` ended: its next episode alerts again."""
        with self._lock:
            self._last.pop((kind, subject), None)

    def note_reject(self, reason: str) -> None:
        """Count a reject; alert when ``count`` fell within ``window_s``."""
        rule = self.rules.get("rejects")
        if rule is None:
            return
        now = self._monotonic()
        with self._lock:
            self._rejects.append(now)
            while self._rejects and now - self._rejects[0] > rule.window_s:
                self._rejects.popleft()
            n = len(self._rejects)
        if n >= rule.count:
            self.fire("rejects", "orders", f"{n} order rejects within {rule.window_s:g} s; "
                      f"last: {reason}", {"count": n, "window_s": rule.window_s})
