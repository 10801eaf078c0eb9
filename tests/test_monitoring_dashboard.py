"""The shipped Grafana dashboard and Prometheus config refer only to metrics the engine
really exports (a renamed metric would leave a panel silently empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from kit import RecordingStrategy
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from livetrade.brokers.paper import PaperBroker
from livetrade.clock import SystemClock
from livetrade.engine import LiveTradingEngine
from livetrade.monitoring import EngineMonitor
from livetrade.state.manager import StateManager, StateSettings

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SUFFIXES = ("_bucket", "_count", "_sum", "_total")


def exported_families(tmp_path: Path) -> set[str]:
    monitor = EngineMonitor()
    engine = LiveTradingEngine(RecordingStrategy(), broker=PaperBroker(), monitor=monitor,
                               state=StateManager(StateSettings(directory=tmp_path),
                                                  SystemClock()))
    engine.start()
    try:
        text = generate_latest(monitor.registry).decode()
    finally:
        engine.stop()
        assert engine.state is not None
        engine.state.store.close()
    return {family.name for family in text_string_to_metric_families(text)}


def base_name(metric: str) -> str:
    for suffix in SUFFIXES:
        if metric.endswith(suffix):
            return metric[: -len(suffix)]
    return metric


def test_every_dashboard_metric_is_exported(tmp_path: Path) -> None:
    dashboard = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = {base_name(m) for e in exprs for m in re.findall(r"livetrade_[a-z_]+", e)}
    exported = exported_families(tmp_path)
    assert len(used) >= 20
    assert used - exported == set()


def test_prometheus_example_scrapes_the_default_status_port() -> None:
    text = (EXAMPLES / "prometheus.yml").read_text()
    assert 'targets: ["127.0.0.1:9108"]' in text and "metrics_path: /metrics" in text
