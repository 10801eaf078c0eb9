"""Operator controls over the monitoring endpoint: ``POST /control/<action>``.

Why over HTTP: the engine runs under supervisord, in its own process; the operator's
commands (``livetrade resume``, ``livetrade control halt``) reach it the way its status
does, on the same loopback endpoint. Changing a live engine is more than reading it, so
**controls need the bearer token**: with no token configured they are refused (403) with
what to set. Actions:

* ``resume``: leave shadow mode, back to the live broker (book reconciled to it);
* ``release``: release the kill switch (new orders pass again; tripwires re-arm);
* ``halt``: engage the kill switch (no new orders, open ones canceled);
* ``reconcile``: reconcile with the broker now.

Each answers JSON ``{"ok": bool, "action": ..., "mode": ..., "message": ...}``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from livetrade.errors import LiveTradeError

if TYPE_CHECKING:
    from livetrade.engine import LiveTradingEngine

ACTIONS = ("resume", "release", "halt", "reconcile")


def perform(engine: LiveTradingEngine, action: str, reason: str) -> tuple[int, dict[str, Any]]:
    """Run ``action`` on ``engine``; (HTTP status, JSON body). Blocks (resume reconciles)."""
    reason = reason or f"operator {action} over the monitoring endpoint"
    try:
        if action == "resume":
            engine.resume_live(reason)
            message = ("resuming: the book is being reconciled to the live account; "
                       "orders go live as soon as that is applied")
        elif action == "release":
            engine.release_kill_switch(reason)
            message = "kill switch released; new orders pass again"
        elif action == "halt":
            canceled = engine.engage_kill_switch(reason)
            message = f"kill switch engaged; {canceled} cancel(s) sent"
        elif action == "reconcile":
            engine.reconcile_now(reason)
            message = "reconciliation requested"
        else:
            return 404, {"ok": False, "action": action,
                         "message": f"unknown action; use one of {', '.join(ACTIONS)}"}
    except LiveTradeError as exc:
        return 409, {"ok": False, "action": action, "mode": engine.mode, "message": str(exc)}
    return 200, {"ok": True, "action": action, "mode": engine.mode, "message": message}
