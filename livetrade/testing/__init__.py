"""Test doubles that speak real venue protocols over loopback (usable outside tests, too)."""
