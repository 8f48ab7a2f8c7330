"""A clock a test sets and moves: handed to code that takes a ``clock`` (or ``now``) instead of reading the
time itself, so a test of an expiry or a back-off moves time on instead of sleeping through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from donatello.core.clock import utcnow

#: A whole second, for tests that reason about JWT times (whole seconds) to the boundary.
WHOLE_SECOND = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or utcnow()

    def __call__(self) -> datetime:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += timedelta(seconds=seconds)
