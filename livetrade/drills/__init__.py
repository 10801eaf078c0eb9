"""Drills: long-running failure exercises a user can run (CI runs them bounded)."""
