"""Signed read links for the local store: the local stand-in for a Blob SAS URL.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(key, "donatello-file-v1\\n" + payload))`` with
``payload = "<expiry>:<name>"`` (expiry in whole seconds since the epoch, UTC).
Whoever holds it may read that one image until the expiry; changing any byte of it breaks the signature.
The key is 32 random bytes in a 0600 file under ``settings.key_dir``, created on first use.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

from donatello.storage.errors import InvalidImageName, StoredImageMissing
from donatello.storage.names import check_name

KEY_BYTES = 32
MAX_TOKEN_LENGTH = 2048
_DOMAIN = b"donatello-file-v1\n"


def load_or_create_key(path: Path) -> bytes:
    """Read the signing key, creating it (0600, in a 0700 directory) if this is the first run."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            # O_EXCL: two processes starting together must not both write a key.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(KEY_BYTES))
    key = path.read_bytes()
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} does not hold a {KEY_BYTES}-byte key")
    return key


class FileLinkSigner:
    """Signs and checks read links; expiry is whole seconds since the epoch (UTC)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError("the link signing key is too short")
        self._key = key

    def sign(self, name: str, expires_at: datetime) -> str:
        expiry = int(expires_at.timestamp())
        payload = f"{expiry}:{check_name(name)}".encode()
        return f"{_b64(payload)}.{_b64(self._mac(payload))}"

    def verify(self, token: str, now: datetime) -> tuple[str, datetime]:
        """The (name, expiry) a valid, unexpired token grants; anything else is simply "not found"."""
        try:
            if len(token) > MAX_TOKEN_LENGTH:
                raise ValueError("token too long")
            encoded_payload, encoded_mac = token.split(".")
            payload, mac = _unb64(encoded_payload), _unb64(encoded_mac)
            if not hmac.compare_digest(mac, self._mac(payload)):
                raise ValueError("bad signature")
            expiry_text, name = payload.decode().split(":", 1)
            expires_at = datetime.fromtimestamp(int(expiry_text), UTC)
            check_name(name)
        except (ValueError, binascii.Error, OverflowError, OSError, InvalidImageName) as refused:
            raise StoredImageMissing() from refused
        if expires_at <= now:
            raise StoredImageMissing(name)
        return name, expires_at

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, _DOMAIN + payload, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the canonical encoding of some bytes is accepted, so a token has one spelling."""
    if not text or not text.isascii():
        raise ValueError("empty or non-ASCII token part")
    data = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    if _b64(data) != text:
        raise ValueError("non-canonical encoding")
    return data
