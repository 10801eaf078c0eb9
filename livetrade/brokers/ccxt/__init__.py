"""Crypto venues through ccxt's synchronous classes: one adapter, a capability row per venue."""

from livetrade.brokers.ccxt.adapter import CCXTAdapter

__all__ = ["CCXTAdapter"]
