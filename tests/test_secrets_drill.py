"""The secrets drill, bounded (the long form is ``python -m livetrade.drills.secrets``):
with API keys set, neither the key nor the secret appears in logs, state, metrics,
status, CLI output or error messages."""

from __future__ import annotations

from pathlib import Path

from livetrade.drills.secrets import run_drill


def test_keys_appear_nowhere_after_a_run_with_failures_and_a_wrong_secret(
        tmp_path: Path) -> None:
    places = run_drill(tmp_path, seconds=4.0)
    assert {p.name for p in places} >= {"engine logs", "state directory", "/metrics",
                                        "/status", "failed engine output"}
    assert all(p.searched_bytes > 0 for p in places), [(p.name, p.searched_bytes)
                                                       for p in places]
    assert [(p.name, p.hits) for p in places if p.hits] == []
