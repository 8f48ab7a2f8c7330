"""What can go wrong when sealing or opening a prompt.

Two different faults, kept apart because they call for different responses:

* ``SealBroken`` — *this envelope* cannot be opened: it is malformed, was altered, was moved to another row or
  tenant (wrong context), or names a key that does not exist. Retrying cannot help; it is an internal error,
  never shown to clients with its details.
* ``KeyUnavailable`` — the key provider could not hand over a key right now (Key Vault refused, timed out, was
  unreachable, or holds no active key). It is a 503 to clients: the prompt is fine, the key service is not.
"""

from __future__ import annotations

from typing import Literal

from donatello.core.errors import ServiceUnavailable

KeyFault = Literal["forbidden", "not-found", "timeout", "unreachable", "malformed", "failed"]


class SealBroken(Exception):
    """The envelope does not open under this context. The message never contains plaintext or key material."""


class KeyUnavailable(ServiceUnavailable):
    """The key provider did not provide a key. ``reason`` says why; details stay in logs, not in responses."""

    type = "key-unavailable"
    title = "The prompt encryption key is unavailable"

    def __init__(self, reason: KeyFault, key_id: str | None = None, detail: str | None = None) -> None:
        super().__init__(self.title)
        self.reason: KeyFault = reason
        self.key_id = key_id
        # Kept off the problem document: key names and vault messages are operator information.
        self.operator_detail = detail or reason

    def __str__(self) -> str:
        where = f" (key {self.key_id})" if self.key_id else ""
        return f"prompt key unavailable: {self.reason}{where}: {self.operator_detail}"
