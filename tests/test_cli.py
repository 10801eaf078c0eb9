"""End-to-end: the ``livetrade`` command as a user runs it, in a subprocess."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMA = f"{ROOT / 'examples' / 'sma_crossover.py'}:SmaCrossover"


def livetrade(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "livetrade", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, check=False)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


TICKS = """timestamp,symbol,price,volume
2024-01-02T10:00:00Z,X,10,1
2024-01-02T10:00:01Z,X,10,1
2024-01-02T10:00:02Z,X,10,1
2024-01-02T10:00:03Z,X,13,1
2024-01-02T10:00:04Z,X,14,1
2024-01-02T10:00:05Z,X,9,1
2024-01-02T10:00:06Z,X,8,1
"""


def test_replay_fills_match_the_hand_worked_example(tmp_path: Path) -> None:
    """fast=2/slow=3 SMA on 10,10,10,13,14,9,8: buy 1 @13 on tick 4, sell 1 @9 on tick 6.

    Tick 3: fast 10 = slow 10, not above (first reading, no trade). Tick 4: fast 11.5 >
    slow 11: crossed above while flat -> market buy, fills at tick 4's price 13 before
    tick 5 is seen. Tick 6: fast 11.5 < slow 12: crossed below while long -> sell 1 @ 9.
    Commission 10 bps: 0.013 + 0.009. Cash 100000 - 13 + 9 - 0.022 = 99995.978.
    """
    data = write(tmp_path / "ticks.csv", TICKS)
    out = tmp_path / "report.json"
    result = livetrade("replay", str(data), "--strategy", SMA, "--param", "fast=2",
                       "--param", "slow=3", "--param", "quantity=1", "--commission-bps", "10",
                       "--report", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    fills = [(f["timestamp"], f["side"], f["quantity"], f["price"], f["commission"])
             for f in report["fills"]]
    assert fills == [
        ("2024-01-02T10:00:03+00:00", "buy", "1", "13", "0.013"),
        ("2024-01-02T10:00:05+00:00", "sell", "1", "9", "0.009"),
    ]
    assert report["final_cash"] == "99995.978"
    assert report["final_equity"] == "99995.978"
    assert report["final_positions"] == {}
    assert report["completed"] is True


def test_replay_twice_gives_identical_reports(tmp_path: Path) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    price = 100
    for day in range(300):
        price += (7 if (day // 15) % 2 == 0 else -6)
        lines.append(f"{1_600_000_000 + day * 86400},{price},{price + 2},{price - 2},{price},10")
    data = write(tmp_path / "bars.csv", "\n".join(lines) + "\n")
    reports = []
    for run in range(2):
        out = tmp_path / f"r{run}.json"
        result = livetrade("replay", str(data), "--symbol", "ABC", "--strategy", SMA,
                           "--param", "fast=3", "--param", "slow=8", "--report", str(out))
        assert result.returncode == 0, result.stderr
        reports.append(out.read_text())
    assert reports[0] == reports[1]
    assert len(json.loads(reports[0])["fills"]) > 10


def test_replay_skips_bad_rows_and_says_where(tmp_path: Path) -> None:
    data = write(tmp_path / "bad.csv", TICKS + "2024-01-02T10:00:07Z,X,NaN,1\nnot-a-time,X,1,1\n")
    result = livetrade("replay", str(data), "--strategy", SMA, "--param", "fast=2",
                       "--param", "slow=3", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["bad_rows"] == 2
    assert "line=9" in report["bad_row_errors"][0] and "line=10" in report["bad_row_errors"][1]
    assert len(report["fills"]) == 2  # the good rows still traded


def test_replay_strict_fails_on_a_bad_row(tmp_path: Path) -> None:
    data = write(tmp_path / "bad.csv", TICKS.replace("X,14,1", "X,-14,1"))
    result = livetrade("replay", str(data), "--strategy", SMA, "--param", "fast=2",
                       "--param", "slow=3", "--strict")
    assert result.returncode == 1
    assert "did not complete" in result.stderr


def test_replay_reports_a_bad_header_and_a_bad_strategy_clearly(tmp_path: Path) -> None:
    data = write(tmp_path / "h.csv", "time,px\n1,2\n")
    result = livetrade("replay", str(data), "--strategy", SMA)
    assert result.returncode == 1
    assert "unrecognised CSV header" in result.stderr and "line: 1" in result.stderr
    result = livetrade("replay", str(data), "--strategy", SMA, "--param", "fast=9",
                       "--param", "slow=3")
    assert result.returncode == 2
    assert "rejected its parameters" in result.stderr


def test_run_with_duration_trades_and_stops_cleanly() -> None:
    result = livetrade("run", "--duration", "4", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    statuses, summary = lines[:-1], lines[-1]
    assert statuses, "expected at least one status line"
    assert {"events_per_s", "queue_depth", "positions", "equity"} <= set(statuses[0])
    assert summary["stopped"] is True and summary["clean"] is True
    assert summary["undelivered_events"] == 0
    assert summary["orders"] >= 1 and summary["fills"] == summary["orders"]
    assert "order_submitted" in result.stderr and "fill" in result.stderr


def test_run_stops_gracefully_on_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "livetrade", "run", "--json",
                             "--log-format", "json"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the first status line: the engine is running
        assert json.loads(first)["state"] == "running"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["clean"] is True
    assert any(json.loads(line).get("event") == "stop_signal" for line in err.splitlines())


def test_run_json_logs_are_one_object_per_line() -> None:
    result = livetrade("run", "--duration", "2", "--log-format", "json")
    assert result.returncode == 0, result.stderr
    logs = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    assert any(entry["event"] == "engine_started" for entry in logs)
    assert all("timestamp" in entry and "level" in entry for entry in logs)


def test_config_check_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    config = write(tmp_path / "bad.toml", '[engine]\nstop_timeout_s = -1\ncolour = "red"\n'
                   '[broker]\ninitial_cash = "abc"\n')
    result = livetrade("config", "check", str(config))
    assert result.returncode == 1
    assert f"{config}:2: engine.stop_timeout_s" in result.stdout
    assert f"{config}:3: engine.colour: unknown key" in result.stdout
    assert f"{config}:5: broker.initial_cash" in result.stdout
    as_json = json.loads(livetrade("config", "check", str(config), "--json").stdout)
    assert as_json["ok"] is False and len(as_json["problems"]) == 3


def test_config_check_never_echoes_values(tmp_path: Path) -> None:
    config = write(tmp_path / "secret.toml", '[broker]\ninitial_cash = "s3cr3t-value"\n')
    result = livetrade("config", "check", str(config))
    assert result.returncode == 1
    assert "s3cr3t-value" not in result.stdout + result.stderr


def test_sample_config_is_valid_and_runs() -> None:
    assert livetrade("config", "check", "examples/paper.toml").returncode == 0
    result = livetrade("run", "examples/paper.toml", "--duration", "2", "--json")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("command", [[], ["run"], ["replay"], ["config", "check"]])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    result = livetrade(*command, "--help")
    assert result.returncode == 0
    assert "example" in result.stdout


def test_help_starts_fast_without_heavy_imports() -> None:
    code = ("import sys, livetrade.cli.main as m; "
            "print(any(k.split('.')[0] in ('ccxt', 'ib_insync') for k in sys.modules))")
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ}).stdout.strip()
    assert out == "False"
    assert time.monotonic() - started < 30  # generous: a hang, not a speed target


def test_the_status_line_shouts_when_the_engine_is_not_live() -> None:
    from decimal import Decimal as Dec

    from livetrade.cli.output import status_dict, status_line
    from livetrade.engine_types import EngineStatus

    status = EngineStatus(state="running", uptime_s=1.0, events_dispatched=10, queue_depth=0,
                          conflated=0, handler_errors=0, open_orders=0, orders_submitted=1,
                          orders_rejected=0, fills=1, cash=Dec(1), equity=Dec(1))
    assert not status_line(status, 5.0).startswith("[")
    shadow = EngineStatus(**{**vars(status), "mode": "shadow"})
    assert status_line(shadow, 5.0).startswith("[SHADOW] ")
    assert status_dict(shadow, 5.0)["mode"] == "shadow"
