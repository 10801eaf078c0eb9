"""Interactive Brokers through ib_insync (or ib_async), confined to its own thread.

The only package in livetrade that imports asyncio or an IB client library.
"""
