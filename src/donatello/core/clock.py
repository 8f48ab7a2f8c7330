"""Time: always aware, always UTC inside the system; zones only at the edges (periods, reports)."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)
