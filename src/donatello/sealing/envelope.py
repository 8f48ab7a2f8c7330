"""The sealed-prompt envelope: one compact, versioned, self-describing string.

    sealed.v1.<key id>.<wrapped data key>.<nonce>.<ciphertext+tag>

Binary fields are unpadded base64url. The key id names the key-encryption key (KEK) that wrapped the data key,
so keys can rotate while old envelopes still open. Decoding is strict — every field must be canonical — so
changing any character of an envelope makes it refuse to open rather than decode to the same bytes.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from donatello.sealing.errors import SealBroken

VERSION = "sealed.v1"
KEY_ID_MAX = 100  # generations.prompt_key_id is varchar(100)
KEY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_/-]{0,99}")
WRAPPED_KEY_BYTES = 40  # RFC 3394 wrap of a 256-bit key: 32 bytes + 8-byte integrity block
NONCE_BYTES = 12
TAG_BYTES = 16

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Envelope:
    key_id: str
    wrapped_key: bytes
    nonce: bytes
    ciphertext: bytes  # AES-GCM output: ciphertext followed by the 16-byte tag

    def __str__(self) -> str:
        return ".".join(
            (VERSION, self.key_id, _encode(self.wrapped_key), _encode(self.nonce), _encode(self.ciphertext))
        )


def valid_key_id(key_id: str) -> bool:
    """Key ids travel inside envelopes and the prompt_key_id column: short, no dots, no spaces."""
    return KEY_ID.fullmatch(key_id) is not None


def associated_data(key_id: str, context: str) -> bytes:
    """What the ciphertext is bound to besides the key: the format, the KEK id and the record's context.

    Only the context (last) may contain arbitrary characters; the fields before it cannot contain a newline,
    so the encoding is unambiguous.
    """
    return f"{VERSION}\n{key_id}\n{context}".encode()


def parse(text: str) -> Envelope:
    """The envelope in ``text``; SealBroken when it is not exactly a v1 envelope."""
    if not text.startswith(VERSION + "."):
        raise SealBroken("not a sealed.v1 envelope")
    fields = text[len(VERSION) + 1 :].split(".")
    if len(fields) != 4:
        raise SealBroken("a sealed.v1 envelope has four fields after its version")
    key_id, wrapped, nonce, ciphertext = fields
    if not valid_key_id(key_id):
        raise SealBroken("the envelope's key id is malformed")
    envelope = Envelope(key_id, _decode(wrapped), _decode(nonce), _decode(ciphertext))
    if (
        len(envelope.wrapped_key) != WRAPPED_KEY_BYTES
        or len(envelope.nonce) != NONCE_BYTES
        or len(envelope.ciphertext) < TAG_BYTES
    ):
        raise SealBroken("the envelope's fields have the wrong lengths")
    return envelope


def looks_sealed(text: str) -> bool:
    """True when ``text`` is a well-formed sealed envelope (what a prompt column must hold at rest).

    It checks the shape only; whether it opens needs the key and the context.
    """
    try:
        parse(text)
    except SealBroken:
        return False
    return True


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(field: str) -> bytes:
    if _B64URL.fullmatch(field) is None or len(field) % 4 == 1:
        raise SealBroken("the envelope holds a field that is not base64url")
    raw = base64.urlsafe_b64decode(field + "=" * (-len(field) % 4))
    if _encode(raw) != field:  # unused trailing bits set: a different string for the same bytes
        raise SealBroken("the envelope holds a non-canonical base64url field")
    return raw
