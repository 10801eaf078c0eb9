"""``livetrade status [URL]``: a running engine's ``/status`` as a readable table.

Reads the monitoring endpoint (``[monitoring] http_port``) over HTTP; the bearer token, if
the endpoint has one, comes from the environment variable named by ``--token-env`` and is
never printed. Exit status: 0 ready, 2 reachable but not ready, 1 unreachable or refused.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

DEFAULT_URL = "http://127.0.0.1:9108"

_EPILOG = """\
examples:
  livetrade status                              the engine at http://127.0.0.1:9108
  livetrade status http://127.0.0.1:9200 --json
  LIVETRADE_MONITOR_TOKEN=... livetrade status  with the endpoint's bearer token

Exit status: 0 ready, 2 reachable but not ready (reasons listed), 1 unreachable.
"""


def add_parser(sub: Any) -> None:
    p = sub.add_parser("status", help="show a running engine's status (monitoring endpoint)",
                       epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", nargs="?", default=DEFAULT_URL,
                   help=f"the engine's monitoring endpoint (default {DEFAULT_URL})")
    p.add_argument("--json", action="store_true", help="print the /status JSON as it is")
    p.add_argument("--token-env", default="LIVETRADE_MONITOR_TOKEN", metavar="NAME",
                   help="environment variable holding the bearer token")
    p.add_argument("--timeout", type=float, default=5.0, metavar="SECONDS")


def fetch_status(url: str, token: str | None, timeout_s: float) -> dict[str, Any]:
    """GET ``url``/status; raises ``OSError`` (unreachable) or ``HTTPError``."""
    request = urllib.request.Request(url.rstrip("/") + "/status")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        document: dict[str, Any] = json.loads(response.read())
    return document


def render(doc: dict[str, Any]) -> str:
    """The status document as aligned ``key  value`` rows and small tables."""
    rows: list[tuple[str, str]] = [
        ("state", f"{doc['state']} (mode {doc['mode']})"),
        ("alive", "yes" if doc["alive"] else f"NO: {doc['alive_reason']}"),
        ("ready", "yes" if not doc["not_ready"] else "NO"),
        ("uptime", f"{doc['uptime_s']:.0f} s"),
        ("events", f"{doc['events_dispatched']:,} (queue {doc['queue_depth']}, "
                   f"p99 {doc['latency_p99_us']:.0f} us)"),
        ("equity", f"{doc['equity']}  cash {doc['cash']}  pnl {doc['pnl']}"),
        ("orders", ", ".join(f"{k} {v}" for k, v in doc["orders"].items())),
    ]
    checkpoint = doc.get("last_checkpoint")
    if checkpoint:
        age = checkpoint["age_s"]
        rows.append(("checkpoint", f"#{checkpoint['count']} "
                     + (f"{age:.0f} s ago" if age is not None else "none yet")))
    if doc.get("kill_switch"):
        rows.append(("kill switch", doc["kill_switch"]))
    if doc.get("restarted_after_unclean_exit"):
        rows.append(("restart", "after an unclean exit"))
    lines = [f"{k:<12} {v}" for k, v in rows]
    for reason in doc["not_ready"]:
        lines.append(f"{'':<12} - {reason}")

    def table(title: str, header: list[str], body: list[list[str]]) -> None:
        if not body:
            return
        widths = [max(len(str(r[i])) for r in [header, *body]) for i in range(len(header))]
        lines.append("")
        lines.append(title)
        for row in [header, *body]:
            lines.append("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths,
                                                                           strict=True)))

    table("positions", ["symbol", "quantity", "avg cost", "mark"],
          [[s, p["quantity"], p["average_cost"], p["mark"]]
           for s, p in doc["positions"].items()])
    table("open orders", ["client id", "symbol", "side", "type", "qty", "filled", "status"],
          [[o["client_order_id"], o["symbol"], o["side"], o["type"], o["quantity"],
            o["filled"], o["status"]] for o in doc["open_orders"]])
    table("feeds", ["feed", "connected", "stale", "last msg age s"],
          [[n, str(f["connected"]), str(f["stale"]),
            "-" if f["last_message_age_s"] is None else f"{f['last_message_age_s']:.1f}"]
           for n, f in doc["feeds"].items()])
    table("breakers", ["breaker", "state"], [[k, v] for k, v in doc["breakers"].items()])
    table("recent errors", ["at", "type", "source", "message"],
          [[e["at"], e["type"], e["source"], e["message"][:80]]
           for e in doc["recent_errors"][-10:]])
    return "\n".join(lines)


def status_command(args: argparse.Namespace) -> int:
    token = os.environ.get(args.token_env) if args.token_env else None
    try:
        doc = fetch_status(args.url, token, args.timeout)
    except urllib.error.HTTPError as exc:
        hint = " (set the token variable named by --token-env)" if exc.code == 401 else ""
        print(f"error: {args.url}/status answered HTTP {exc.code}{hint}", file=sys.stderr)
        return 1
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        print(f"error: cannot read {args.url}/status: {reason}\n"
              "  is the engine running with [monitoring] enabled and http_port set?",
              file=sys.stderr)
        return 1
    print(json.dumps(doc, indent=2) if args.json else render(doc))
    return 0 if not doc["not_ready"] else 2
