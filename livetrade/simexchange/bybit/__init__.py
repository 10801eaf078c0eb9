"""Bybit v5 front door of the exchange simulator (REST ``/v5/...`` and public websockets)."""
