"""The command-line interface (``livetrade``)."""
