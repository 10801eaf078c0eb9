"""Durable state: checkpoints, the write-ahead order journal, reconciliation."""
