"""Hyperliquid front door of the exchange simulator (``/info``, ``/exchange``, ``/ws``)."""
