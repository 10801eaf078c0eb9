"""``livetrade run [CONFIG]``: the engine, live, until Ctrl-C / SIGTERM / --duration."""

from __future__ import annotations

import argparse
import json
import sys

from livetrade.brokers.paper import PaperBroker
from livetrade.config import LiveTradeConfig, load_config
from livetrade.errors import LiveTradeError


def run_command(args: argparse.Namespace) -> int:
    from livetrade.app import build_engine
    from livetrade.cli.output import StatusPrinter, print_error
    from livetrade.logs import configure_logging, flush_logs

    try:
        config = load_config(args.config) if args.config else LiveTradeConfig()
        status = StatusPrinter(sys.stdout if args.json else sys.stderr, as_json=args.json)
        configure_logging(args.log_format or config.logging.format,
                          args.log_level or config.logging.level,
                          stream=status.log_stream(sys.stderr))
        engine = build_engine(config)
    except LiveTradeError as exc:
        print_error(exc)
        return 1
    try:
        report = engine.run_forever(args.duration, on_status=status,
                                    status_interval_s=config.engine.status_interval_s,
                                    stop_when_feeds_done=True)
    except LiveTradeError as exc:  # e.g. recovery refused to start: say why and what to do
        flush_logs()  # the engine's last lines (rendered on the log thread) come first
        status.finish()
        print_error(exc)
        return 1
    finally:
        if isinstance(engine.broker, PaperBroker):
            engine.broker.close()
    flush_logs()
    status.finish()
    final = engine.status()
    summary = {
        "stopped": True,
        "clean": report.clean,
        "undelivered_events": len(report.undelivered),
        "open_orders": report.open_orders,
        "orders": final.orders_submitted,
        "fills": final.fills,
        "equity": str(final.equity),
        "cash": str(final.cash),
        "positions": {s: str(q) for s, q in final.positions.items()},
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        print(f"stopped: {final.orders_submitted} orders, {final.fills} fills, "
              f"equity {final.equity:,.2f}, open orders {report.open_orders}, "
              f"undelivered events {len(report.undelivered)}", file=sys.stderr)
    return 0 if report.clean else 1
