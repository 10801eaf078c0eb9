"""The secrets drill: run the whole engine with API keys set, then look everywhere for them.

    python -m livetrade.drills.secrets                  # ~30 s of trading
    python -m livetrade.drills.secrets --quick --json   # what CI runs (bounded)

It starts ``livetrade sim-exchange`` (its own process) with a distinctive key and secret,
then ``livetrade run`` (its own process) trading through the ccxt broker and the Binance
feed with **debug** JSON logs (the most talkative setting: ccxt logs its request headers at
debug), state on disk and the monitoring endpoint on. Midway it makes the venue fail (5xx,
dropped answers) so error paths run too, and starts a second engine with a wrong secret so
an authentication error is produced and printed. Then it searches, for the key and the
secret (and their halves, to catch truncation): every log line the engines wrote, every
byte in the state directory (checkpoints, journal, reports: SQLite files and all),
``/metrics``, ``/status``, ``/healthz``, ``/readyz``, the output of ``livetrade state show``
and ``livetrade config check``, and the failed engine's error output. Any hit fails it.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets as token
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from livetrade.drills.ports import free_port


@dataclass
class Place:
    """One place searched: how many bytes, and the hits (never the secret itself)."""

    name: str
    searched_bytes: int = 0
    hits: list[str] = field(default_factory=list)


def _needles(key: str, secret: str) -> dict[str, str]:
    return {"api key": key, "api secret": secret, "key (first half)": key[: len(key) // 2],
            "secret (second half)": secret[len(secret) // 2:]}


def _search(place: Place, data: bytes, needles: dict[str, str], where: str = "") -> None:
    place.searched_bytes += len(data)
    for label, needle in needles.items():
        if needle.encode() in data:
            place.hits.append(f"{label} found{' in ' + where if where else ''}")


def _config(work: Path, sim: dict[str, Any], http_port: int) -> Path:
    path = work / "engine.toml"
    path.write_text(f"""
[engine]
stop_timeout_s = 10

[broker]
type = "ccxt"
exchange = "binance"
rest_url = "{sim['rest_url']}"
symbols = ["BTC/USDT"]
quote_currency = "USDT"
timeout_ms = 2000
enable_rate_limit = false
poll_interval_s = 0.2

[[feeds]]
type = "binance_stream"
ws_url = "{sim['ws_url']}"
rest_url = "{sim['rest_url']}"
symbols = ["BTC/USDT"]

[strategy]
path = "examples/sma_crossover.py:SmaCrossover"
params = {{ fast = 2, slow = 4, quantity = "0.001" }}

[state]
directory = "{work / 'state'}"
account_id = "secrets-drill"
checkpoint_interval_s = 1

[resilience]
retry_initial_s = 0.05
retry_max_s = 0.2
breaker_reset_timeout_s = 1
degrade_after_s = 2
probe_interval_s = 0.5

[monitoring]
enabled = true
http_port = {http_port}

[logging]
format = "json"
level = "debug"
""")
    return path


def _get(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return bytes(response.read())
    except urllib.error.HTTPError as exc:  # /readyz says 503 when not ready: still searched
        return bytes(exc.read())


def _admin(sim: dict[str, Any], body: dict[str, Any]) -> None:
    request = urllib.request.Request(sim["admin_url"] + "/faults", method="POST",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5):
        pass


def run_drill(work: Path, *, seconds: float) -> list[Place]:
    key, secret = f"KEY{token.token_hex(16)}", f"SEC{token.token_hex(24)}"
    needles = _needles(key, secret)
    places = {name: Place(name) for name in (
        "engine logs", "failed engine output", "state directory", "/metrics", "/status",
        "/healthz", "/readyz", "state show", "config check")}
    env = {**os.environ, "LIVETRADE_API_KEY": key, "LIVETRADE_API_SECRET": secret}
    sim_proc = subprocess.Popen(
        [sys.executable, "-m", "livetrade", "sim-exchange", "--json", "--port", "0",
         "--ws-port", "0", "--price-source", "random", "--tick-interval", "0.02",
         "--api-key", key, "--api-secret", secret, "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    engine: subprocess.Popen[bytes] | None = None
    try:
        assert sim_proc.stdout is not None
        sim = json.loads(sim_proc.stdout.readline())
        http_port = free_port()
        config = _config(work, sim, http_port)
        log = work / "engine.log"
        with log.open("wb") as out:
            engine = subprocess.Popen([sys.executable, "-m", "livetrade", "run", str(config),
                                       "--json"], env=env, stdout=out, stderr=out)
            base = f"http://127.0.0.1:{http_port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    _get(base + "/healthz")
                    break
                except OSError:
                    time.sleep(0.2)
            time.sleep(seconds / 3)
            _admin(sim, {"error_rate": 0.3, "timeout_rate": 0.2, "timeout_hold_s": 0.3})
            time.sleep(seconds / 3)
            _admin(sim, {})
            time.sleep(seconds / 3)
            for path in ("/metrics", "/status", "/healthz", "/readyz"):
                _search(places[path], _get(base + path), needles)
            engine.send_signal(signal.SIGTERM)
            engine.wait(60)
        _search(places["engine logs"], log.read_bytes(), needles)
        wrong = subprocess.run(
            [sys.executable, "-m", "livetrade", "run", str(config), "--duration", "1"],
            env={**env, "LIVETRADE_API_SECRET": secret[::-1]}, capture_output=True,
            timeout=120, check=False)
        _search(places["failed engine output"], wrong.stdout + wrong.stderr, needles)
        if wrong.returncode == 0:
            places["failed engine output"].hits.append("a wrong secret did not fail the run")
        for file in sorted((work / "state").rglob("*")):
            if file.is_file():
                _search(places["state directory"], file.read_bytes(), needles, file.name)
        for name, args in (("state show", ["state", "show", str(config), "--json"]),
                           ("config check", ["config", "check", str(config)])):
            done = subprocess.run([sys.executable, "-m", "livetrade", *args], env=env,
                                  capture_output=True, timeout=60, check=False)
            _search(places[name], done.stdout + done.stderr, needles)
    finally:
        if engine is not None and engine.poll() is None:
            engine.kill()
        sim_proc.terminate()
        sim_proc.wait(10)
    return list(places.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m livetrade.drills.secrets",
        description="run with API keys set, then search logs, state, metrics and status",
        epilog="examples:\n  python -m livetrade.drills.secrets\n"
               "  python -m livetrade.drills.secrets --quick --json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="about 10 s of trading (CI)")
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="livetrade-secrets-"))
    try:
        places = run_drill(work, seconds=6.0 if args.quick else 30.0)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ok = all(not p.hits for p in places) and all(p.searched_bytes for p in places)
    if args.json:
        print(json.dumps({"ok": ok, "places": [{"name": p.name, "bytes": p.searched_bytes,
                                                "hits": p.hits} for p in places]}))
    else:
        print(f"{'place':<22}{'bytes searched':>16}  hits")
        for p in places:
            print(f"{p.name:<22}{p.searched_bytes:>16,}  {len(p.hits) or '0'}"
                  + "".join(f"\n    {h}" for h in p.hits))
        print(f"\n{'OK' if ok else 'FAILED'}: the key and secret appear nowhere"
              if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
