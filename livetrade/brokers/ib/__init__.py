"""Interactive Brokers through ib_insync, confined to its own thread."""
