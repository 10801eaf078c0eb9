"""``livetrade sim-exchange``: a Binance-spot-compatible exchange on loopback.

Light at import (argparse only), so ``livetrade --help`` stays fast; the simulator is
imported when the command runs. Prints where to connect (REST, websocket, admin URLs and
the API key; the secret once, because the user needs it) and then only log lines, which
never carry the secret. Stops on SIGTERM or Ctrl-C, persisting the state directory.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import FrameType
from typing import Any

EPILOG = """\
examples:
  livetrade sim-exchange                               manual prices, ports chosen by the OS
  livetrade sim-exchange --port 8900 --ws-port 8901 --state sim-state/ --price-source random
  livetrade sim-exchange --price-source replay ticks.csv --symbols BTC/USDT
  livetrade sim-exchange --api-key K --api-secret S --json     one JSON line with the URLs
  livetrade sim-exchange --fault-error-rate 0.05 --fault-timeout-rate 0.01 \\
      --fault-scope "POST /api/v3/order" --fault-seed 7

Point ccxt at it with urls['api'] = {'public': REST/api/v3, 'private': REST/api/v3}
(see examples/sim-exchange.toml). Runtime control, loopback only:
  curl -X POST REST/admin/faults -d '{"error_rate": 0.2}'      set faults (DELETE clears)
  curl -X POST REST/admin/price -d '{"symbol": "BTC/USDT", "price": "30100"}'
  curl -X POST REST/admin/drop_streams;  curl REST/admin/state
With --state the account, orders, trades, prices and generated key survive restarts.
"""


def add_parser(sub: Any) -> None:
    """Register ``sim-exchange`` on the main parser's subcommands."""
    p = sub.add_parser("sim-exchange", help="run a Binance-compatible exchange simulator "
                       "on 127.0.0.1", epilog=EPILOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dialect", choices=["binance", "bybit", "hyperliquid"],
                   default="binance", help="which exchange's API to speak (default binance; "
                   "bybit: spot + linear perps, hyperliquid: USDC perps)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (loopback only unless "
                   "--allow-remote)")
    p.add_argument("--allow-remote", action="store_true",
                   help="allow a non-loopback --host (the simulator has no real security)")
    p.add_argument("--port", type=int, default=0, help="REST port (0: any free port)")
    p.add_argument("--ws-port", type=int, default=0, help="websocket port (0: any free port)")
    p.add_argument("--state", metavar="DIR", help="persist the venue in this directory")
    p.add_argument("--symbols", default="BTC/USDT,ETH/USDT",
                   help="comma-separated ccxt symbols (default: BTC/USDT,ETH/USDT)")
    p.add_argument("--price-source", nargs="+", default=["manual"],
                   metavar="SOURCE", help="manual | random | replay FILE.csv")
    p.add_argument("--tick-interval", type=float, default=0.5, metavar="SECONDS",
                   help="pace of the random walk or replay (default 0.5)")
    p.add_argument("--seed", type=int, default=1, help="seed of the random walk")
    p.add_argument("--balance", action="append", default=[], metavar="ASSET=AMOUNT",
                   help="starting balance of a fresh venue (default USDT=100000; repeatable)")
    p.add_argument("--commission-bps", default="10", metavar="BPS")
    p.add_argument("--participation", metavar="SHARE",
                   help="an order gets at most this share of each price step's volume")
    p.add_argument("--api-key", help="API key to accept (default: generated)")
    p.add_argument("--api-secret", help="API secret (default: generated)")
    p.add_argument("--weight-limit", type=int, default=6000,
                   help="request weight per minute before 429 (default 6000)")
    faults = p.add_argument_group("faults (also settable at runtime via /admin/faults)")
    faults.add_argument("--fault-error-rate", type=float, default=0.0, metavar="P")
    faults.add_argument("--fault-error-status", type=int, default=503, metavar="CODE")
    faults.add_argument("--fault-timeout-rate", type=float, default=0.0, metavar="P",
                        help="execute, then never answer")
    faults.add_argument("--fault-timeout-mode", choices=["close", "hang"], default="close")
    faults.add_argument("--fault-rate-limit-rate", type=float, default=0.0, metavar="P")
    faults.add_argument("--fault-ws-drop-rate", type=float, default=0.0, metavar="P")
    faults.add_argument("--fault-fill-delay-ms", type=int, default=0, metavar="MS")
    faults.add_argument("--fault-partial-fill", type=float, metavar="SHARE")
    faults.add_argument("--fault-clock-skew-ms", type=int, default=0, metavar="MS")
    faults.add_argument("--fault-scope", action="append", default=[],
                        metavar="'METHOD /path'", help="limit HTTP faults to this endpoint "
                        "(repeatable)")
    faults.add_argument("--fault-seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the addresses as one JSON line")
    p.add_argument("--log-level", choices=["debug", "info", "warning", "error"],
                   default="info")


def _price_source(values: list[str]) -> str | Path:
    from livetrade.errors import ConfigError

    kind = values[0]
    if kind in ("manual", "random") and len(values) == 1:
        return kind
    if kind == "replay" and len(values) == 2:
        path = Path(values[1])
        if not path.is_file():
            raise ConfigError(f"replay file not found: {path}")
        return path
    raise ConfigError("--price-source must be 'manual', 'random' or 'replay FILE'")


def _balances(items: list[str]) -> dict[str, Decimal]:
    from livetrade.errors import ConfigError

    if not items:
        return {"USDT": Decimal("100000")}
    out: dict[str, Decimal] = {}
    for item in items:
        asset, _, amount = item.partition("=")
        try:
            out[asset.strip().upper()] = Decimal(amount)
        except InvalidOperation as exc:
            raise ConfigError(f"--balance {item!r}: expected ASSET=AMOUNT") from exc
    return out


def _config(args: argparse.Namespace) -> Any:
    from livetrade.errors import ConfigError
    from livetrade.simexchange import FaultConfig, SimExchangeConfig

    try:
        faults = FaultConfig(
            error_rate=args.fault_error_rate, error_status=args.fault_error_status,
            timeout_rate=args.fault_timeout_rate, timeout_mode=args.fault_timeout_mode,
            rate_limit_rate=args.fault_rate_limit_rate, ws_drop_rate=args.fault_ws_drop_rate,
            fill_delay_ms=args.fault_fill_delay_ms,
            partial_fill_fraction=args.fault_partial_fill,
            clock_skew_ms=args.fault_clock_skew_ms, scope=tuple(args.fault_scope),
            seed=args.fault_seed)
        return SimExchangeConfig(
            host=args.host, port=args.port, ws_port=args.ws_port,
            state_dir=Path(args.state) if args.state else None,
            symbols=tuple(s.strip() for s in args.symbols.split(",") if s.strip()),
            price_source=_price_source(args.price_source), seed=args.seed,
            tick_interval_s=args.tick_interval, balances=_balances(args.balance),
            api_key=args.api_key, api_secret=args.api_secret,
            commission_bps=Decimal(args.commission_bps),
            participation=Decimal(args.participation) if args.participation else None,
            request_weight_limit=args.weight_limit, faults=faults,
            allow_remote=args.allow_remote)
    except (ValueError, InvalidOperation) as exc:
        raise ConfigError(f"bad sim-exchange option: {exc}") from exc


def sim_command(args: argparse.Namespace) -> int:
    from livetrade.cli.output import print_error
    from livetrade.errors import LiveTradeError
    from livetrade.logs import configure_logging
    from livetrade.simexchange.dialects import open_sim_exchange

    configure_logging("json" if args.json else "console", args.log_level)
    try:
        sim = open_sim_exchange(_config(args), args.dialect)
        sim.start()
    except LiveTradeError as error:
        print_error(error)
        return 1
    except OSError as exc:
        print(f"error: cannot listen: {exc.strerror}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    info = {"dialect": args.dialect,
            "rest_url": sim.rest_url, "ws_url": sim.ws_url, "admin_url": sim.admin_url,
            "api_key": sim.api_key, "api_secret": sim.api_secret,
            "symbols": list(sim.config.symbols),
            "state": str(sim.config.state_dir) if sim.config.state_dir else None}
    if args.json:
        print(json.dumps(info), flush=True)
    else:
        rest = {"binance": "/api/v3", "bybit": "/v5", "hyperliquid": "/info, /exchange"}
        print(f"sim-exchange ({args.dialect} dialect) on {sim.rest_url}\n"
              f"  REST       {sim.rest_url}{rest[args.dialect]}\n  websocket  {sim.ws_url}\n"
              f"  admin      {sim.admin_url}\n  api key    {sim.api_key}\n"
              f"  api secret {sim.api_secret}   (shown once; never logged)\n"
              "Ctrl-C or SIGTERM stops it.", flush=True)
    try:
        stop.wait()
    finally:
        sim.stop()
    return 0
