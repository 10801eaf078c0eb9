"""Logging setup: JSON for supervisord, console for people, reconfigurable at any time, and
rendered off the caller's thread without losing what matters."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
from typing import Any

import pytest
import structlog
from kit import join_all, wait_until

from livetrade.logs import (
    close_logging,
    configure_logging,
    current_writer,
    enabled_for,
    flush_logs,
    resume_logging,
)

pytestmark = pytest.mark.timeout(60)

_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")


def test_json_lines_carry_level_timestamp_and_context() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    structlog.get_logger("t").info("fill", client_order_id="lt-1", symbol="A")
    assert flush_logs()
    entry = json.loads(out.getvalue())
    assert entry["event"] == "fill" and entry["client_order_id"] == "lt-1"
    assert entry["level"] == "info" and _STAMP.fullmatch(entry["timestamp"])


def test_a_logger_used_before_reconfiguration_follows_the_new_configuration() -> None:
    """Embedding applications reconfigure logging; module-level loggers must follow, and
    what the old configuration still held is written to the old stream first."""
    logger = structlog.get_logger("livetrade.test")
    first, second = io.StringIO(), io.StringIO()
    configure_logging("json", "info", stream=first)
    logger.info("one")
    configure_logging("json", "info", stream=second)
    logger.info("two")
    assert flush_logs()
    assert "one" in first.getvalue() and "two" not in first.getvalue()
    assert "two" in second.getvalue() and "one" not in second.getvalue()


def test_levels_filter_and_bad_settings_are_refused() -> None:
    out = io.StringIO()
    configure_logging("json", "warning", stream=out)
    structlog.get_logger("t").info("hidden")
    assert flush_logs()
    assert out.getvalue() == ""
    with pytest.raises(ValueError, match="log level"):
        configure_logging("json", "loud")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="queue_lines"):
        configure_logging("json", queue_lines=0)


# ---------------------------------------------------------------- background writer

def _log_a_sample(logger: Any) -> None:
    """The same calls in every mode: fields, a nested value, an exception being handled."""
    logger.info("order_submitted", client_order_id="lt-7", symbol="BTC/USDT", side="buy",
                quantity="0.5")
    logger.warning("undelivered_events_at_stop", count=2, by_type={"OrderFill": 2})
    try:
        raise ValueError("bad tick")
    except ValueError:
        logger.error("handler_failed", handler="strategy", exc_info=True)
    logger.error("handler_failed", handler="strategy", exc_info=RuntimeError("boom"))


def _rendered(fmt: str, background: bool) -> str:
    out = io.StringIO()
    configure_logging(fmt, "info", stream=out, background=background)  # type: ignore[arg-type]
    _log_a_sample(structlog.get_logger("t"))
    close_logging()
    return _STAMP.sub("<time>", out.getvalue())


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_background_lines_are_the_synchronous_lines(fmt: str) -> None:
    """Same renderer, same fields, same order, same exception text: only the thread that
    renders differs (timestamps are compared by format, the instants differ)."""
    background = _rendered(fmt, background=True)
    synchronous = _rendered(fmt, background=False)
    assert background == synchronous
    assert background.count("handler_failed") == 2 and "ValueError: bad tick" in background
    if fmt == "json":
        assert [json.loads(line)["event"] for line in background.splitlines()] == [
            "order_submitted", "undelivered_events_at_stop", "handler_failed",
            "handler_failed"]


class _RecordingStream(io.StringIO):
    """Remembers which threads wrote; can be held shut to make the writer fall behind."""

    def __init__(self) -> None:
        super().__init__()
        self.writers: set[str] = set()
        self.open = threading.Event()
        self.open.set()
        self.entered = threading.Event()

    def write(self, text: str) -> int:
        self.writers.add(threading.current_thread().name)
        self.entered.set()
        self.open.wait(30)
        return super().write(text)


def test_lines_are_rendered_and_written_off_the_calling_thread() -> None:
    stream = _RecordingStream()
    configure_logging("json", "info", stream=stream)
    structlog.get_logger("t").info("fill", client_order_id="lt-1")
    assert flush_logs()
    assert stream.writers == {"livetrade-log-writer"}


def test_every_line_queued_before_close_is_written_in_order() -> None:
    """Closing (what reconfiguring and interpreter exit do) writes the whole queue, even
    when the writer is behind; lines logged afterwards are written on the caller's thread."""
    stream = _RecordingStream()
    configure_logging("json", "info", stream=stream)
    log = structlog.get_logger("t")
    stream.open.clear()
    log.info("line", n=0)
    assert stream.entered.wait(10)  # the writer is stuck in write() with line 0
    for n in range(1, 500):
        log.info("line", n=n)
    stream.open.set()
    close_logging()
    log.info("after_close", n=500)
    numbers = [json.loads(line)["n"] for line in stream.getvalue().splitlines()]
    assert numbers == list(range(501))
    assert threading.current_thread().name in stream.writers


def test_a_full_queue_drops_and_counts_info_but_never_a_warning() -> None:
    """Overflow: info lines beyond the bound are dropped and counted, a warning waits for
    room and is written, and a log_lines_dropped warning reports the count."""
    stream = _RecordingStream()
    configure_logging("json", "info", stream=stream, queue_lines=10)
    log = structlog.get_logger("t")
    writer = current_writer()
    assert writer is not None
    stream.open.clear()
    log.info("line", n=0)
    assert stream.entered.wait(10)  # writer stuck: from now on the queue only fills
    for n in range(1, 31):
        log.info("line", n=n)
    assert writer.dropped == 20  # 10 queued (lines 1-10), 20 dropped

    warned = threading.Event()

    def warn() -> None:
        log.warning("important")
        warned.set()

    thread = threading.Thread(target=warn, daemon=True)
    thread.start()
    assert not warned.wait(0.3)  # the warning's caller waits for room: never dropped
    stream.open.set()
    join_all([thread])
    assert flush_logs()
    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [e["n"] for e in entries if e["event"] == "line"] == list(range(11))
    assert sorted(e["event"] for e in entries if e["level"] == "warning") == [
        "important", "log_lines_dropped"]
    report = next(e for e in entries if e["event"] == "log_lines_dropped")
    assert report["dropped_total"] == 20


def test_a_line_that_cannot_be_rendered_is_counted_and_the_writer_goes_on() -> None:
    class Unprintable:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    out = io.StringIO()
    configure_logging("console", "info", stream=out)
    log = structlog.get_logger("t")
    log.info("broken", value=Unprintable())
    log.info("fine")
    assert flush_logs()
    writer = current_writer()
    assert writer is not None and writer.errors == 1
    assert "could not be rendered" in out.getvalue() and "fine" in out.getvalue()


def test_a_closed_writer_can_be_resumed_for_a_restored_configuration() -> None:
    """Restoring a saved configuration (what the benchmarks do around a nested setup)
    brings its writer thread back instead of leaving it closed."""
    stream = _RecordingStream()
    configure_logging("json", "info", stream=stream)
    saved = structlog.get_config()
    configure_logging("json", "info", stream=io.StringIO())  # closes the first writer
    close_logging()
    structlog.configure(**saved)
    resume_logging()
    structlog.get_logger("t").info("after_restore")
    assert flush_logs()
    assert stream.writers == {"livetrade-log-writer"}
    assert "after_restore" in stream.getvalue()


def test_reconfiguring_ends_the_previous_writer_thread() -> None:
    for _ in range(3):
        configure_logging("json", "info", stream=io.StringIO())
    close_logging()
    assert wait_until(lambda: not any(t.name == "livetrade-log-writer"
                                      for t in threading.enumerate()))


_EXIT_SCRIPT = """
import structlog, sys
from livetrade.logs import configure_logging
configure_logging("json", "info", stream=sys.stdout)
log = structlog.get_logger("t")
for n in range(2000):
    log.info("line", n=n)
log.error("crash_stop", reason="strategy failed")
raise SystemExit(3) if sys.argv[1] == "exit" else RuntimeError("uncaught")
"""


@pytest.mark.parametrize("how", ["exit", "uncaught"])
def test_lines_logged_before_a_normal_or_crashing_exit_are_all_written(how: str) -> None:
    """The atexit hook writes the queue when the interpreter exits: with a status code,
    or after an uncaught exception."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", _EXIT_SCRIPT, how], capture_output=True,
                          text=True, timeout=30, check=False)
    assert done.returncode == (3 if how == "exit" else 1), done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["n"] for e in events if e["event"] == "line"] == list(range(2000))
    assert events[-1]["event"] == "crash_stop"
    assert time.monotonic() - started < 30


def _run_script(body: str, timeout_s: float = 30) -> subprocess.CompletedProcess[str]:
    script = "import structlog, sys\nfrom livetrade.logs import configure_logging\n" + body
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=timeout_s, check=False)


def test_a_signal_handler_that_logs_never_deadlocks_the_thread_it_interrupts() -> None:
    """Handing a line over takes no lock: a handler interrupting a log call can log."""
    done = _run_script(
        "import faulthandler, os, signal, time\n"
        "faulthandler.dump_traceback_later(15, exit=True)\n"
        "configure_logging('json', 'info', stream=open(os.devnull, 'w'))\n"
        "log = structlog.get_logger('t')\n"
        "hits = 0\n"
        "def on_alarm(signum, frame):\n"
        "    global hits; hits += 1\n"
        "    log.warning('signal_seen', n=hits)\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0.0003)\n"
        "signal.signal(signal.SIGALRM, on_alarm)\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.0003)\n"
        "end = time.time() + 1.5\n"
        "while time.time() < end:\n"
        "    log.info('tick', x=1)\n"
        "signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "print('handled', hits)\n")
    assert done.returncode == 0, done.stderr[-2000:]
    assert int(done.stdout.split()[-1]) > 100


def test_a_value_whose_repr_logs_is_written_after_close_without_deadlock() -> None:
    out = io.StringIO()
    configure_logging("json", "info", stream=out)
    log = structlog.get_logger("t")

    class Order:
        def __repr__(self) -> str:
            log.warning("repr_called")
            return "Order(1)"

    close_logging()  # the state after exit's hook or a reconfiguration: synchronous writes
    worker = threading.Thread(target=lambda: log.info("closed_state", order=Order()))
    worker.start()
    worker.join(5)
    assert not worker.is_alive()
    assert [json.loads(line)["event"] for line in out.getvalue().splitlines()] == [
        "repr_called", "closed_state"]


def test_a_forked_child_writes_its_lines() -> None:
    done = _run_script(
        "import os\n"
        "configure_logging('json', 'info', stream=sys.stdout)\n"
        "log = structlog.get_logger('t')\n"
        "pid = os.fork()\n"
        "if pid == 0:\n"
        "    log.error('child_error_line')\n"
        "    sys.exit(0)\n"
        "os.waitpid(pid, 0)\n"
        "log.info('parent_after_fork')\n")
    events = [json.loads(line)["event"] for line in done.stdout.splitlines()]
    assert sorted(events) == ["child_error_line", "parent_after_fork"]


def test_a_stream_that_takes_no_lines_is_reported_at_close_never_silently(
        monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    class StuckStream(io.StringIO):
        def write(self, text: str) -> int:
            release.wait(10)
            return super().write(text)

    report = io.StringIO()
    monkeypatch.setattr(sys, "__stderr__", report)
    configure_logging("json", "info", stream=StuckStream())
    log = structlog.get_logger("t")
    log.warning("first")  # the writer blocks writing this one
    assert wait_until(lambda: current_writer() is not None
                      and current_writer()._queue.qsize() == 0, 5)  # type: ignore[union-attr]
    for n in range(3):
        log.error("waiting", n=n)
    writer = current_writer()
    assert writer is not None
    writer.close(0.2)
    assert "at least 3 queued log line(s) not written" in report.getvalue()
    release.set()


def test_enabled_for_follows_the_current_level_filter() -> None:
    """What the order path asks before building a per-order line: it tracks the level as
    configured right now, and a logger class that is not structlog's filtering one is
    taken to log everything."""
    assert enabled_for("debug")  # structlog's defaults filter nothing
    configure_logging("json", "warning", stream=io.StringIO(), background=False)
    assert not enabled_for("info") and enabled_for("warning") and enabled_for("critical")
    configure_logging("json", "info", stream=io.StringIO(), background=False)
    assert enabled_for("info") and not enabled_for("debug")
    structlog.configure(wrapper_class=structlog.BoundLogger)
    assert enabled_for("debug")
