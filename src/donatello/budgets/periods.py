"""Budget periods: calendar months in the organization's time zone.

A period is identified by its first local day; it covers the instants from local midnight of that day to
local midnight of the first day of the next month (so DST changes inside a month are handled by the
zone database, not by adding 24-hour days).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TIMEZONE = "Australia/Sydney"


@dataclass(frozen=True)
class Period:
    start: date  # first local day
    end: date  # last local day (inclusive), as department_budgets.budget_period_end
    timezone: str

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, ZoneInfo(self.timezone)).astimezone(UTC)

    @property
    def ends_at(self) -> datetime:
        """The first instant after the period (exclusive bound)."""
        return datetime.combine(self.end + timedelta(days=1), time.min, ZoneInfo(self.timezone)).astimezone(
            UTC
        )

    def contains(self, instant: datetime) -> bool:
        return self.starts_at <= instant < self.ends_at

    def next(self) -> Period:
        return month_starting(self.end + timedelta(days=1), self.timezone)


def month_starting(first_day: date, timezone: str) -> Period:
    start = first_day.replace(day=1)
    following = (start + timedelta(days=32)).replace(day=1)
    return Period(start=start, end=following - timedelta(days=1), timezone=timezone)


def period_at(instant: datetime, timezone: str) -> Period:
    """The period that contains ``instant`` (an aware datetime) in ``timezone``."""
    local_day = instant.astimezone(ZoneInfo(timezone)).date()
    return month_starting(local_day, timezone)


def organization_timezone(settings: dict[str, object] | None, default: str = DEFAULT_TIMEZONE) -> str:
    """The organization's IANA zone from its settings, or the default when absent or unknown."""
    zone = (settings or {}).get("timezone")
    if isinstance(zone, str):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            return default
        return zone
    return default
