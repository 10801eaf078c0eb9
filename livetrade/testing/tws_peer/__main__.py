"""Run a TWS-protocol peer: ``python -m livetrade.testing.tws_peer --port 7497``.

Point ``livetrade run`` (``[broker] type = "ib"``) or any ib_insync script at it. Market
orders fill at ``--price``; ``--tick-s`` streams a random walk to market-data subscribers.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from decimal import Decimal

from livetrade.testing.tws_peer.server import TWSPeer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m livetrade.testing.tws_peer")
    parser.add_argument("--port", type=int, default=7497, help="0: any free port")
    parser.add_argument("--price", default="100", help="starting price of every symbol")
    parser.add_argument("--symbols", default="AAPL", help="comma-separated, for ticks")
    parser.add_argument("--tick-s", type=float, default=0.0, help="0: no ticks")
    args = parser.parse_args(argv)
    symbols = [s for s in args.symbols.split(",") if s]
    rng = random.Random(7)
    with TWSPeer(port=args.port) as peer:
        for symbol in symbols:
            peer.set_price(symbol, Decimal(args.price))
        print(f"TWS peer listening on 127.0.0.1:{peer.port}", flush=True)
        try:
            while True:
                if args.tick_s <= 0:
                    time.sleep(1.0)
                    continue
                time.sleep(args.tick_s)
                for symbol in symbols:
                    step = Decimal(rng.choice((-5, -2, -1, 1, 2, 5))) / 100
                    price = max(Decimal("0.01"), peer.prices[symbol] + step)
                    peer.push_tick(symbol, price)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
