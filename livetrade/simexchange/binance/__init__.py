"""Binance spot's dialect: REST ``/api/v3``, signing, filters, errors and streams."""
