"""``livetrade state show|verify|reset``: the operator's view of the crash-safe state."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from livetrade.errors import LiveTradeError, StateError


def _directory(args: argparse.Namespace) -> Path:
    if args.dir:
        return Path(args.dir)
    if args.config:
        from livetrade.config import load_config

        config = load_config(args.config)
        if config.state.directory is None:
            raise StateError(f"{args.config} has no [state] directory",
                             hint="add [state] directory = \"...\" or pass --dir")
        return config.state.directory
    raise StateError("which store? pass a CONFIG file or --dir DIR")


def state_command(args: argparse.Namespace) -> int:
    from livetrade.cli.output import print_error
    from livetrade.state.directory import move_aside
    from livetrade.state.lock import lock_directory
    from livetrade.state.store import StateStore

    try:
        directory = _directory(args)
        if args.state_command == "reset":
            if not args.yes:
                print(f"refusing to reset {directory} without --yes (it would be moved "
                      "aside, not deleted)")
                return 2
            # Held for the whole reset: an engine starting meanwhile is refused, never
            # left writing into a directory that was moved away under it.
            claim = lock_directory(directory)
            try:
                target = move_aside(directory)
            finally:
                claim.release()
            print(f"moved {directory} to {target}; the next start begins with no state")
            return 0
        store = StateStore.open_existing(directory)
        if args.state_command == "verify":
            problems = store.verify()
            if args.json:
                print(json.dumps({"directory": str(directory), "ok": not problems,
                                  "problems": problems}))
            elif problems:
                print(f"{directory}: {len(problems)} problem(s)")
                for problem in problems:
                    print(f"  {problem}")
            else:
                print(f"{directory}: OK ({len(store.checkpoint_numbers())} checkpoints, "
                      f"journal up to {store.journal_sequence()})")
            return 1 if problems else 0
        return _show(store, args)
    except LiveTradeError as exc:
        print_error(exc)
        return 1


def _show(store: Any, args: argparse.Namespace) -> int:
    reports = store.reports()
    if not store.checkpoint_numbers() and args.checkpoint is None:
        return _show_journal_only(store, reports, args)
    checkpoint = store.load_checkpoint(args.checkpoint)
    if args.json:
        print(json.dumps({"meta": store.meta(), "kept": store.checkpoint_numbers(),
                          "checkpoint": json.loads(checkpoint.model_dump_json()),
                          "journal_sequence": store.journal_sequence(),
                          "last_reconciliation": reports[-1] if reports else None}))
        return 0
    p = checkpoint.portfolio
    print(f"checkpoint {checkpoint.number} of {store.checkpoint_numbers()}  "
          f"({checkpoint.reason}, {checkpoint.created_at.isoformat()}, "
          f"engine {checkpoint.engine_version}, schema {checkpoint.schema_version})")
    print(f"account {checkpoint.account_id}  strategy {checkpoint.strategy_id}")
    print(f"cash {p.cash}  commissions {p.commissions}")
    print(f"{'symbol':<12} {'quantity':>14} {'avg cost':>14} {'mark':>14}")
    for pos in p.positions:
        if pos.quantity != 0:
            print(f"{pos.symbol:<12} {pos.quantity:>14} {pos.average_cost:>14.6f} "
                  f"{p.marks.get(pos.symbol, pos.average_cost):>14}")
    open_orders = [o for o in checkpoint.orders if o.status.is_open]
    print(f"orders: {len(checkpoint.orders)} kept, {len(open_orders)} open; next id "
          f"{checkpoint.order_id_prefix}-{checkpoint.next_order_sequence}")
    for o in open_orders:
        print(f"  {o.client_order_id} {o.side.value} {o.quantity} {o.symbol} "
              f"{o.order_type.value} {o.status.value} filled {o.filled_quantity}")
    print(f"journal: entries up to {store.journal_sequence()} "
          f"(checkpoint covers {checkpoint.journal_sequence})")
    if reports:
        last = reports[-1]
        rec = last.get("reconciliation", {})
        print(f"last recovery at {last.get('at')}: {len(rec.get('differences', []))} "
              f"difference(s), policy {rec.get('policy')}, halted {last.get('halted')}")
        for d in rec.get("differences", []):
            print(f"  {d['kind']}: {d['detail']}")
    return 0


def _show_journal_only(store: Any, reports: list[dict[str, Any]],
                       args: argparse.Namespace) -> int:
    """No checkpoint yet (a crash before the first one): the journal is all there is."""
    entries = store.journal_since(store.journal_first() - 1)
    intents = [e.client_order_id for e in entries if e.kind == "intent"]
    if args.json:
        print(json.dumps({"meta": store.meta(), "kept": [], "checkpoint": None,
                          "journal_sequence": store.journal_sequence(),
                          "journal_intents": intents,
                          "last_reconciliation": reports[-1] if reports else None}))
        return 0
    print(f"no checkpoint yet; journal holds {len(entries)} entries, "
          f"{len(intents)} order intent(s): {', '.join(intents[-10:]) or '-'}")
    print("the next start restores from the journal and reconciles with the broker")
    return 0

