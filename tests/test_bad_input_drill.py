"""The bad-input drill, bounded: every case must hold its promise (the long form is
``python -m livetrade.drills.bad_input``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from livetrade.drills.bad_input import run_drill, table


def test_every_bad_input_becomes_a_typed_error_or_an_event(tmp_path: Path) -> None:
    results = run_drill(tmp_path, scale=1, seed=3)
    assert [r.name for r in results] == ["feed_frames", "events", "orders", "csv_rows",
                                         "checkpoints", "configs", "strategy"]
    assert all(r.inputs > 0 for r in results)
    assert all(r.ok for r in results), table(results)


def test_the_drill_command_prints_a_json_summary_and_exits_zero() -> None:
    done = subprocess.run([sys.executable, "-m", "livetrade.drills.bad_input", "--quick",
                           "--json", "--only", "configs,checkpoints"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ok"] and [c["name"] for c in summary["cases"]] == ["checkpoints", "configs"]


def test_an_unknown_case_is_a_usage_error() -> None:
    done = subprocess.run([sys.executable, "-m", "livetrade.drills.bad_input", "--only",
                           "nonsense"], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 2 and "unknown case" in done.stderr
