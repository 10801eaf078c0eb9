"""``livetrade control ACTION [URL]`` and ``livetrade resume [URL]``: operate a running engine.

Posts to the engine's monitoring endpoint (``/control/<action>``, see
:mod:`livetrade.monitoring.control`); the bearer token comes from the environment variable
named by ``--token-env`` (the same one the engine reads) and is never printed.
Exit status: 0 done, 1 refused or unreachable.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from typing import Any

from livetrade.cli.status_cmd import DEFAULT_URL
from livetrade.monitoring.control import ACTIONS

_EPILOG = """\
examples:
  livetrade resume                                   leave shadow mode (engine at 127.0.0.1:9108)
  livetrade control halt --reason "venue incident"   engage the kill switch
  livetrade control release                          release it
  livetrade control reconcile http://127.0.0.1:9200  reconcile with the broker now

Controls need the endpoint's bearer token: set LIVETRADE_MONITOR_TOKEN (or --token-env)
for the engine and for this command.
"""


def add_parsers(sub: Any) -> None:
    control = sub.add_parser("control", help="operate a running engine (resume, halt, ...)",
                             epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    control.add_argument("action", choices=ACTIONS)
    _common(control)
    resume = sub.add_parser("resume", help="leave shadow mode: back to the live broker",
                            epilog=_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    _common(resume)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", nargs="?", default=DEFAULT_URL,
                   help=f"the engine's monitoring endpoint (default {DEFAULT_URL})")
    p.add_argument("--reason", default="", help="why (logged and sent to alerts)")
    p.add_argument("--token-env", default="LIVETRADE_MONITOR_TOKEN", metavar="NAME",
                   help="environment variable holding the bearer token")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")
    p.add_argument("--timeout", type=float, default=30.0, metavar="SECONDS")


def control_command(args: argparse.Namespace) -> int:
    action = getattr(args, "action", None) or "resume"
    token = os.environ.get(args.token_env, "")
    request = urllib.request.Request(
        args.url.rstrip("/") + f"/control/{action}", method="POST",
        data=json.dumps({"reason": args.reason}).encode(),
        headers={"Content-Type": "application/json"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=args.timeout) as response:
            answer: dict[str, Any] = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read())
        except ValueError:
            answer = {"ok": False, "message": f"HTTP {exc.code}"}
    except OSError as exc:
        print(f"error: cannot reach {args.url}: {exc}\nhint: is the engine running with "
              "[monitoring] enabled and http_port set?", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(answer))
    elif answer.get("ok"):
        print(f"{action}: {answer.get('message')} (mode {answer.get('mode')})")
    else:
        print(f"error: {action} refused: {answer.get('message')}", file=sys.stderr)
    return 0 if answer.get("ok") else 1
