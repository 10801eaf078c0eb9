"""A TWS-protocol peer: real IB API wire format over loopback, scriptable for tests.

Run one for manual experiments with ``python -m livetrade.testing.tws_peer --port 7497``.
"""

from livetrade.testing.tws_peer.book import ACCOUNT, PeerContract, PeerOrder
from livetrade.testing.tws_peer.plans import Delay, DropConnection, Fill, Plan, Reject, Rest
from livetrade.testing.tws_peer.server import TWSPeer

__all__ = ["ACCOUNT", "Delay", "DropConnection", "Fill", "PeerContract", "PeerOrder", "Plan",
           "Reject", "Rest", "TWSPeer"]
