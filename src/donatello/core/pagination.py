"""Keyset (cursor) pagination: stable under concurrent inserts, O(page) at any depth."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from donatello.core.errors import ValidationFailed

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, size: int) -> list[Any] | None:
    """The key values of the last row of the previous page; a malformed cursor is the client's error."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValidationFailed("The cursor is not valid", field="cursor") from exc
    if not isinstance(values, list) or len(values) != size:
        raise ValidationFailed("The cursor is not valid", field="cursor")
    return values


def decode_time_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """A (created_at, id) cursor, the key of lists ordered newest first; a malformed one is a 422."""
    values = decode_cursor(cursor, 2)
    if values is None:
        return None
    try:
        return datetime.fromisoformat(str(values[0])), uuid.UUID(str(values[1]))
    except ValueError as exc:
        raise ValidationFailed("The cursor is not valid", field="cursor") from exc


def time_cursor_after(rows: list[Any], limit: int) -> str | None:
    """The cursor of the next page, given ``limit + 1`` rows with ``created_at`` and ``id``."""
    if len(rows) <= limit:
        return None
    last = rows[limit - 1]
    return encode_cursor([last.created_at.isoformat(), str(last.id)])
