"""Hyperliquid L1-action signatures: who signed an ``/exchange`` request.

A client signs ``keccak(msgpack(action) + nonce + vault flag [+ expiresAfter])`` wrapped as
the EIP-712 ``Agent{source, connectionId}`` message of domain ``Exchange``/chain 1337
(``source`` is ``"a"`` on mainnet, ``"b"`` on testnet) with its secp256k1 key. The venue
recovers the public key from ``(r, s, v)`` and compares the derived address with the
account's. This module recomputes the digest with ccxt's own helpers (the same code that
signed it, so both sides agree on msgpack and EIP-712 encoding) and recovers the key with
``coincurve``, which ccxt already depends on. A signature that does not recover to the
account is answered as Hyperliquid does: "User or API Wallet 0x... does not exist."
"""

from __future__ import annotations

import secrets
from typing import Any

import ccxt
import coincurve

_DOMAIN = {"chainId": 1337, "name": "Exchange",
           "verifyingContract": "0x0000000000000000000000000000000000000000", "version": "1"}
_TYPES = {"Agent": [{"name": "source", "type": "string"},
                    {"name": "connectionId", "type": "bytes32"}]}


def _hasher() -> Any:
    """A ccxt ``hyperliquid`` instance used only for its pure hashing helpers."""
    return ccxt.hyperliquid()


def address_of(private_key_hex: str) -> str:
    """The lowercase ``0x`` wallet address of a hex private key."""
    key = coincurve.PrivateKey(bytes.fromhex(private_key_hex.removeprefix("0x")))
    public = key.public_key.format(compressed=False)[1:]
    return "0x" + str(_hasher().hash(public, "keccak", "hex"))[-40:]


def new_wallet() -> tuple[str, str]:
    """A throwaway ``(address, private key)`` for a simulated account."""
    private = "0x" + secrets.token_hex(32)
    return address_of(private), private


class SignatureChecker:
    """Recovers the signer of an L1 action. Thread-safe (no shared mutable state used)."""

    def __init__(self) -> None:
        self._ccxt = _hasher()

    def signer(self, action: dict[str, Any], nonce: int, signature: dict[str, Any], *,
               vault: str | None = None, expires_after: int | None = None,
               expected: str | None = None) -> set[str]:
        """The addresses this signature recovers to on mainnet and on testnet (empty when
        it is malformed). With ``expected``, stops at the first source that recovers to it
        (keccak is pure Python here: each try costs ~10 ms)."""
        try:
            r = str(signature["r"]).removeprefix("0x").rjust(64, "0")
            s = str(signature["s"]).removeprefix("0x").rjust(64, "0")
            v = int(signature["v"]) - 27
            raw = bytes.fromhex(r + s) + bytes([v])
            connection = self._ccxt.action_hash(action, vault, nonce, expires_after)
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed signature: {exc}") from exc
        found: set[str] = set()
        for source in ("a", "b"):
            message = self._ccxt.eth_encode_structured_data(
                _DOMAIN, _TYPES, {"source": source, "connectionId": connection})
            digest = bytes.fromhex(str(self._ccxt.hash_message(message))[2:])
            try:
                key = coincurve.PublicKey.from_signature_and_message(raw, digest, hasher=None)
            except ValueError:
                continue
            public = key.format(compressed=False)[1:]
            address = "0x" + str(self._ccxt.hash(public, "keccak", "hex"))[-40:]
            found.add(address)
            if address == expected:
                break
        return found
