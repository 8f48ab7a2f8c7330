"""What every image store offers, and the rules all of them apply to their arguments.

The generation worker and the API talk to an :class:`ImageStore`; which one is configured (local directory
or Azure Blob Storage) is decided once, at startup, in :mod:`donatello.storage.configured`.
"""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Literal, Protocol

Tier = Literal["Hot", "Cool", "Archive"]
TIERS: tuple[Tier, ...] = ("Hot", "Cool", "Archive")

DEFAULT_READ_URL_LIFETIME = timedelta(minutes=15)
#: Read URLs end up in API responses, logs and browser histories: they must not outlive a working day.
MAX_READ_URL_LIFETIME = timedelta(hours=24)

_CONTENT_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,63}$")


class ImageStore(Protocol):
    async def put(self, name: str, data: bytes, content_type: str) -> None:
        """Store ``data`` under ``name`` (replacing what was there) with its content type."""

    async def put_file(self, name: str, source: Path, content_type: str) -> None:
        """Store the file at ``source`` under ``name``, streamed (memory stays flat whatever its size).
        Readers see the previous object or the whole new one, never part of it; ``source`` is left as is."""

    async def get(self, name: str) -> bytes:
        """The stored bytes; raises ``StoredImageMissing`` when there are none."""

    async def get_file(self, name: str, target: Path) -> None:
        """Write the stored bytes to ``target``, streamed (memory stays flat whatever the size); raises
        ``StoredImageMissing`` when there are none."""

    async def read_url(self, name: str, *, expires_in: timedelta = DEFAULT_READ_URL_LIFETIME) -> str:
        """A short-lived, read-only URL anyone holding it may fetch the image with, until it expires."""

    async def set_tier(self, name: str, tier: Tier) -> None:
        """Move the image to an access tier (Hot → Cool → Archive as it ages)."""

    async def delete(self, name: str) -> None:
        """Remove the image; deleting what is already gone is not an error."""

    async def close(self) -> None:
        """Release connections; the store is not used afterwards."""


def check_content_type(content_type: str) -> str:
    """A bare ``type/subtype``: no parameters, no line breaks, nothing that could split a header."""
    if not _CONTENT_TYPE.match(content_type):
        raise ValueError(f"{content_type[:80]!r} is not a content type")
    return content_type.lower()


def check_lifetime(expires_in: timedelta) -> timedelta:
    """Read URLs are short-lived: more than zero, at most :data:`MAX_READ_URL_LIFETIME`."""
    if not timedelta(0) < expires_in <= MAX_READ_URL_LIFETIME:
        raise ValueError(f"a read URL must live between 0 and {MAX_READ_URL_LIFETIME}, not {expires_in}")
    return expires_in


def check_tier(tier: str) -> Tier:
    for known in TIERS:
        if tier == known:
            return known
    raise ValueError(f"{tier!r} is not one of {', '.join(TIERS)}")
