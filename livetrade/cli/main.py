"""The ``livetrade`` command. Each subcommand lives in its own module; this one parses.

Imports of anything heavy happen inside the subcommand that needs it, so ``--help`` and
``config check`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from livetrade import __version__

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2

_MAIN_EPILOG = """\
examples:
  livetrade run                                 paper broker + simulated feed + SMA example
  livetrade run --duration 30                   the same, stopping after 30 seconds
  livetrade run my.toml --log-format json       a configured engine, JSON logs (supervisord)
  livetrade replay data.csv --strategy examples/sma_crossover.py:SmaCrossover --param fast=5
  livetrade config check my.toml                every problem in a config, with file:line
  livetrade state show my.toml                  the last checkpoint and recovery report
  livetrade sim-exchange --state sim/           a Binance-compatible exchange on 127.0.0.1
  livetrade status http://127.0.0.1:9108        a running engine's status ([monitoring])
  livetrade resume                              leave shadow mode once the broker is back
  livetrade control halt --reason "..."         kill switch (also: release, reconcile)

Run 'livetrade COMMAND --help' for a command's options.
"""

_RUN_EPILOG = """\
examples:
  livetrade run
  livetrade run --duration 60
  livetrade run examples/paper.toml --json      status lines as JSON objects on stdout
  livetrade run examples/paper.toml --log-format json --log-level warning

Stops on Ctrl-C or SIGTERM (graceful: feeds stop, queue drains, strategy.on_stop runs).
"""

_REPLAY_EPILOG = """\
examples:
  livetrade replay ticks.csv --strategy examples/sma_crossover.py:SmaCrossover
  livetrade replay aapl_daily.csv --symbol AAPL --strategy mypkg.strategies:Momentum \\
      --param lookback=20 --param quantity=10 --cash 50000 --report out.json
  livetrade replay bars.csv --symbol SPY --strategy examples/sma_crossover.py:SmaCrossover --json

CSV layouts: ticks 'timestamp,symbol,price,volume'; bars 'timestamp,open,high,low,close,volume'
(with --symbol). Timestamps ISO 8601 (no offset = UTC) or epoch seconds.
Parameters: integers stay integers, other numbers become Decimal, true/false become booleans.
"""

_CONFIG_EPILOG = """\
examples:
  livetrade config check examples/paper.toml
  livetrade config check my.toml --json         problems as a JSON list
"""


_STATE_EPILOG = """\
examples:
  livetrade state show examples/paper-state.toml
  livetrade state show --dir state/ --checkpoint 3 --json
  livetrade state verify examples/paper-state.toml
  livetrade state reset examples/paper-state.toml --yes
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="livetrade",
        description="A threaded, synchronous live-trading engine (paper broker by default).",
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"livetrade {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser("run", help="run the engine (default: paper broker, simulated feed)",
                         epilog=_RUN_EPILOG,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("config", nargs="?", help="TOML config file (default: built-in paper setup)")
    run.add_argument("--duration", type=float, metavar="SECONDS",
                     help="stop after this many seconds")
    _add_output_options(run)

    replay = sub.add_parser("replay", help="replay a CSV through a strategy, deterministically",
                            epilog=_REPLAY_EPILOG,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    replay.add_argument("data", help="CSV of ticks or bars")
    replay.add_argument("--strategy", required=True, metavar="MODULE:CLASS",
                        help="strategy class, as module:Class or path/to/file.py:Class")
    replay.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="strategy constructor argument (repeatable)")
    replay.add_argument("--symbol", help="symbol for a bar file without a symbol column")
    replay.add_argument("--cash", default="100000", metavar="AMOUNT", help="starting cash")
    replay.add_argument("--commission-bps", default="0", metavar="BPS")
    replay.add_argument("--slippage-bps", default="0", metavar="BPS")
    replay.add_argument("--strict", action="store_true",
                        help="stop at the first malformed row instead of skipping it")
    replay.add_argument("--report", metavar="OUT.json", help="write the full JSON report here")
    _add_output_options(replay)

    config = sub.add_parser("config", help="work with config files")
    config_sub = config.add_subparsers(dest="config_command", metavar="ACTION")
    check = config_sub.add_parser("check", help="validate a config file and list every problem",
                                  epilog=_CONFIG_EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("file", help="TOML config file")
    check.add_argument("--json", action="store_true", help="print problems as JSON")
    state = sub.add_parser("state", help="inspect, verify or reset the crash-safe state")
    state_sub = state.add_subparsers(dest="state_command", metavar="ACTION")
    for action, text in (("show", "show a checkpoint, open orders and the last recovery"),
                         ("verify", "check integrity, schema and the journal (exit 1 on "
                                    "problems)"),
                         ("reset", "move the store aside (never deletes); needs --yes")):
        p = state_sub.add_parser(action, help=text, epilog=_STATE_EPILOG,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("config", nargs="?", help="config file whose [state] directory to use")
        p.add_argument("--dir", help="the state directory itself")
        if action == "show":
            p.add_argument("--checkpoint", type=int, metavar="N",
                           help="a kept checkpoint number (default: newest)")
        if action == "reset":
            p.add_argument("--yes", action="store_true", help="really move it aside")
        if action != "reset":
            p.add_argument("--json", action="store_true", help="machine-readable output")
    from livetrade.cli.sim_cmd import add_parser as add_sim_parser  # argparse-only module

    add_sim_parser(sub)
    from livetrade.cli.control_cmd import add_parsers as add_control_parsers
    from livetrade.cli.status_cmd import add_parser as add_status_parser

    add_status_parser(sub)
    add_control_parsers(sub)
    return parser


def _add_output_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log-format", choices=["console", "json"],
                   help="console for people, json for supervisord (default: config or console)")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   help="default: config or info")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output on stdout (JSON lines / a JSON document)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "run":
        from livetrade.cli.run_cmd import run_command

        return run_command(args)
    if args.command == "replay":
        from livetrade.cli.replay_cmd import replay_command

        return replay_command(args)
    if args.command == "config" and args.config_command == "check":
        from livetrade.cli.config_cmd import check_command

        return check_command(args)
    if args.command == "state" and args.state_command:
        from livetrade.cli.state_cmd import state_command

        return state_command(args)
    if args.command == "sim-exchange":
        from livetrade.cli.sim_cmd import sim_command

        return sim_command(args)
    if args.command == "status":
        from livetrade.cli.status_cmd import status_command

        return status_command(args)
    if args.command in ("control", "resume"):
        from livetrade.cli.control_cmd import control_command

        return control_command(args)
    if args.command in ("config", "state"):
        parser.parse_args([args.command, "--help"])
    parser.print_help()
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
