"""livetrade: a threaded, synchronous live-trading engine with Decimal money.

Start with :class:`livetrade.engine.LiveTradingEngine` and :class:`livetrade.strategy.Strategy`.
Nothing here does work at import time; heavy optional libraries load only when used.
"""

__version__ = "0.1.0"
