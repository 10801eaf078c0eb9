"""``livetrade config check FILE``."""

from __future__ import annotations

import argparse
import json

from livetrade.config import LiveTradeConfig, ReplayFeedSection, load_config, unused_settings
from livetrade.errors import ConfigError, LiveTradeError


def _check_references(config: LiveTradeConfig, source: str) -> None:
    """What the schema cannot see: the strategy imports and takes its params; files exist."""
    from livetrade.app import build_scheduler
    from livetrade.clock import SystemClock
    from livetrade.feeds.replay import ReplayFeed
    from livetrade.loader import load_strategy

    problems: list[str] = []
    try:
        build_scheduler(config, SystemClock(), lambda event: None)
    except ConfigError as exc:
        problems.extend(f"{source}: {p}" for p in exc.problems)
    try:
        load_strategy(config.strategy.path, dict(config.strategy.params))
    except LiveTradeError as exc:
        problems.append(f"{source}: strategy: {exc.message}")
    for i, feed in enumerate(config.feeds):
        if isinstance(feed, ReplayFeedSection):
            try:
                ReplayFeed(feed.path, symbol=feed.symbol).check()
            except LiveTradeError as exc:
                problems.append(f"{source}: feeds.{i}.path: {exc}")
    if problems:
        raise ConfigError(f"{len(problems)} problem(s) in {source}", problems)


def check_command(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.file)
        _check_references(config, args.file)
    except ConfigError as exc:
        if args.json:
            print(json.dumps({"file": args.file, "ok": False, "problems": exc.problems}))
        else:
            print(f"{args.file}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                print(f"  {problem}")
            print("hint: fix each line above, then run 'livetrade config check' again")
        return 1
    warnings = unused_settings(config)
    summary = {
        "file": args.file,
        "ok": True,
        "broker": config.broker.type,
        "feeds": [f.type for f in config.feeds],
        "strategy": config.strategy.path,
        "warnings": warnings,
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.file}: OK (broker {summary['broker']}, feeds {', '.join(summary['feeds'])},"
              f" strategy {summary['strategy']})")
        for warning in warnings:
            print(f"  warning: {warning}")
    return 0
