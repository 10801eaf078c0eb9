"""A Binance-spot-compatible exchange simulator on loopback (``livetrade sim-exchange``).

The core (``venue``, ``account``, ``market``, ``store``, ``faults``) knows no exchange
dialect; ``binance/`` is the first front door (REST + websocket). Orders fill by
:mod:`livetrade.matching`, the PaperBroker's rules.
"""

from livetrade.simexchange.config import FaultConfig, SimExchangeConfig, SymbolSpec
from livetrade.simexchange.server import SimExchange

__all__ = ["FaultConfig", "SimExchange", "SimExchangeConfig", "SymbolSpec"]
