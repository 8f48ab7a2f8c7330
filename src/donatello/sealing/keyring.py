"""Key-encryption keys (KEKs) and where they come from.

A key ring hands out the *active* KEK for new seals and any earlier KEK by id for opening old envelopes.
Providers only store and fetch 256-bit keys; wrapping and sealing happen in one place (``sealer``), so every
provider gets the same cryptography.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

KEK_BYTES = 32


@dataclass(frozen=True)
class Kek:
    id: str
    material: bytes = field(repr=False)  # never in a repr, a log line or a traceback


class KeyRing(Protocol):
    async def active(self) -> Kek:
        """The KEK new envelopes are sealed under. Raises KeyUnavailable when there is none to be had."""
        ...

    async def get(self, key_id: str) -> Kek:
        """The KEK with this id, active or not; KeyUnavailable(reason="not-found") if it never existed."""
        ...

    async def aclose(self) -> None:
        """Release connections held by the provider."""
        ...
