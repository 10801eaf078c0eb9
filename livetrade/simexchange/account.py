"""A spot account: free and locked balances per asset.

Why separate from the order book: the rules here (lock on accept, settle on fill, release
on end, never below zero) are the ones a real venue's risk engine applies, and they are
easier to read and to test without orders around them. Not thread-safe on its own: the
venue calls it under its lock.
"""

from __future__ import annotations

from decimal import Decimal

ZERO = Decimal(0)


class Account:
    """Balances of one spot account; every change keeps ``free >= 0`` and ``locked >= 0``."""

    def __init__(self, balances: dict[str, tuple[Decimal, Decimal]] | None = None) -> None:
        self._free: dict[str, Decimal] = {}
        self._locked: dict[str, Decimal] = {}
        for asset, (free, locked) in (balances or {}).items():
            self._free[asset] = free
            self._locked[asset] = locked

    def free(self, asset: str) -> Decimal:
        return self._free.get(asset, ZERO)

    def locked(self, asset: str) -> Decimal:
        return self._locked.get(asset, ZERO)

    def snapshot(self) -> dict[str, tuple[Decimal, Decimal]]:
        assets = sorted(set(self._free) | set(self._locked))
        return {a: (self.free(a), self.locked(a)) for a in assets}

    def deposit(self, asset: str, amount: Decimal) -> None:
        self._free[asset] = self.free(asset) + amount

    def can_lock(self, asset: str, amount: Decimal) -> bool:
        return self.free(asset) >= amount

    def lock(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from free to locked; the caller checked ``can_lock``."""
        if amount > self.free(asset):
            raise ValueError(f"cannot lock {amount} {asset}: only {self.free(asset)} free")
        self._free[asset] = self.free(asset) - amount
        self._locked[asset] = self.locked(asset) + amount

    def release(self, asset: str, amount: Decimal) -> None:
        """Move ``amount`` from locked back to free (an order ended or overlocked)."""
        amount = min(amount, self.locked(asset))
        self._locked[asset] = self.locked(asset) - amount
        self._free[asset] = self.free(asset) + amount

    def settle(self, pay_asset: str, from_locked: Decimal, pay: Decimal,
               receive_asset: str, receive: Decimal) -> None:
        """One fill: spend ``pay`` of ``pay_asset`` (``from_locked`` of it was locked for
        this fill, the rest comes from free) and credit ``receive`` of ``receive_asset``."""
        from_locked = min(from_locked, self.locked(pay_asset))
        self._locked[pay_asset] = self.locked(pay_asset) - from_locked
        self._free[pay_asset] = self.free(pay_asset) + from_locked - pay
        if self._free[pay_asset] < 0:
            raise ValueError(f"fill would overdraw {pay_asset}")
        self._free[receive_asset] = self.free(receive_asset) + receive
