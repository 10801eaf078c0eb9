"""``livetrade replay DATA.csv --strategy ...``: deterministic replay with a JSON report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from decimal import Decimal, InvalidOperation
from pathlib import Path

from livetrade.errors import ConfigError, LiveTradeError


def _decimal_arg(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name} must be a finite number >= 0, got {text!r}")
    return value


def replay_command(args: argparse.Namespace) -> int:
    from livetrade.cli.output import print_error
    from livetrade.loader import load_strategy, parse_param
    from livetrade.logs import configure_logging, flush_logs
    from livetrade.replay import ReplayProgress, run_replay

    configure_logging(args.log_format or "console", args.log_level or "warning")
    try:
        params = dict(parse_param(p) for p in args.param)
        strategy = load_strategy(args.strategy, params)
        cash = _decimal_arg(args.cash, "--cash")
        if cash == 0:
            raise ConfigError("--cash must be positive")
        commission = _decimal_arg(args.commission_bps, "--commission-bps")
        slippage = _decimal_arg(args.slippage_bps, "--slippage-bps")
    except LiveTradeError as exc:
        print_error(exc)
        return 2
    size = Path(args.data).stat().st_size if Path(args.data).exists() else 0
    started = time.monotonic()
    show = sys.stderr.isatty() or size > 5_000_000

    def progress(p: ReplayProgress) -> None:
        if not show:
            return
        elapsed = time.monotonic() - started
        print(f"\rreplay: {p.rows:,} rows, {p.fills:,} fills, {p.bad_rows} bad, "
              f"{p.events_dispatched / max(elapsed, 1e-9):,.0f} events/s",
              end="", file=sys.stderr, flush=True)

    try:
        report = run_replay(args.data, strategy, strategy_name=args.strategy,
                            symbol=args.symbol, cash=cash, commission_bps=commission,
                            slippage_bps=slippage,
                            on_bad_row="fail" if args.strict else "skip", progress=progress)
    except LiveTradeError as exc:
        flush_logs()
        print_error(exc)
        return 1
    flush_logs()  # log lines are rendered on their own thread: theirs come before the summary
    elapsed = time.monotonic() - started
    if show:
        print(file=sys.stderr)
    if args.report:
        Path(args.report).write_text(report.to_json() + "\n", encoding="utf-8")
    if args.json:
        print(report.to_json())
    else:
        print(f"replayed {report.rows:,} rows ({report.bad_rows} bad) in {elapsed:.2f}s "
              f"({report.rows / max(elapsed, 1e-9):,.0f} rows/s)")
        print(f"orders {report.orders_submitted} (rejected {report.orders_rejected}), "
              f"fills {len(report.fills)}")
        print(f"final cash {report.final_cash:,.2f}  equity {report.final_equity:,.2f}  "
              f"positions {json.dumps(report.final_positions)}")
        for error in report.bad_row_errors[:5]:
            print(f"  skipped: {error}")
        if args.report:
            print(f"report written to {args.report}")
    if report.interrupted:
        print("replay interrupted: the report covers the rows read so far", file=sys.stderr)
        return 130
    if not report.completed:
        why = ("no valid row in the file" if report.rows == report.bad_rows
               else "a malformed row stopped it (--strict)")
        print(f"error: replay did not complete: {why}", file=sys.stderr)
        for error in report.bad_row_errors[:3]:
            print(f"  {error}", file=sys.stderr)
        return 1
    if report.strategy_errors:
        print(f"warning: the strategy raised {report.strategy_errors} time(s); see the log",
              file=sys.stderr)
    return 0
