"""Image names: date-partitioned like the seed's ``images/2025/11/17/<id>.png``, and safe for any store.

Every store checks names with :func:`check_name`, so a name can never climb out of the local directory or
address something other than an image blob.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

from donatello.storage.errors import InvalidImageName

MAX_NAME_LENGTH = 512
_SEGMENT = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_GENERATION_IMAGE = re.compile(
    r"^images/\d{4}/\d{2}/\d{2}/(?P<id>[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    r"-\d+(?:\.png|_thumb\.jpg)$"
)


def blob_names(generation_id: uuid.UUID, created_at: datetime, index: int) -> tuple[str, str]:
    """(image name, thumbnail name) for image ``index`` of a generation, partitioned by its UTC date.

    ``created_at`` must be timezone-aware: a naive time would file the image under whichever date the
    server's zone happened to give.
    """
    if created_at.tzinfo is None or created_at.utcoffset() is None:
        raise ValueError("created_at must be timezone-aware")
    if index < 0:
        raise ValueError("index must not be negative")
    day = created_at.astimezone(UTC)
    stem = f"images/{day:%Y/%m/%d}/{generation_id}-{index}"
    return f"{stem}.png", f"{stem}_thumb.jpg"


def generation_of(name: str) -> uuid.UUID | None:
    """The generation an image or thumbnail name (from :func:`blob_names`) belongs to; None for other
    files (exports)."""
    found = _GENERATION_IMAGE.match(name)
    return uuid.UUID(found["id"]) if found else None


def check_name(name: str) -> str:
    """Return ``name`` if it is a relative path of plain segments (letters, digits, ``._-``).

    No empty segments, no segment starting with a dot (so no ``.``, ``..`` or hidden files), no
    backslashes or other separators, bounded length: the rule that keeps the local store inside its
    directory, and leaves dot-names free for the store's own temporary and metadata files.
    """
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidImageName(name)
    segments = name.split("/")
    if not all(_SEGMENT.match(segment) for segment in segments):
        raise InvalidImageName(name)
    return name


def download_disposition(name: str) -> str | None:
    """How a stored file that is not an image reaches a browser: a download under its own file name
    (``cost-events-2026-11-01-2026-11-30.csv``), never the link's token. Images are shown inline (None)."""
    base = name.rsplit("/", 1)[-1]
    if base.lower().endswith((".png", ".jpg", ".jpeg")):
        return None
    safe = "".join(c if c.isalnum() or c in ".-_" else "_" for c in base)
    return f'attachment; filename="{safe}"'
