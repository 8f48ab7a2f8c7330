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


class BadBound(ValueError):
    """A ``from``/``to`` value that follows neither form; ``field`` names the parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def query_range(
    starts: str | None, ends: str | None, timezone: str
) -> tuple[datetime | None, datetime | None]:
    """The one rule for ``from``/``to`` everywhere: a ``YYYY-MM-DD`` is a whole local day in the
    organization's zone (``to`` includes it), anything else an ISO datetime (naive = local time).
    Returns UTC instants, ``to`` exclusive."""
    zone = ZoneInfo(timezone)
    begin = None if starts is None else _bound(starts, zone, end=False, field="from").astimezone(UTC)
    finish = None if ends is None else _bound(ends, zone, end=True, field="to").astimezone(UTC)
    if begin is not None and finish is not None and begin >= finish:
        raise BadBound("from", "from must be before to")
    return begin, finish


def _bound(value: str, zone: ZoneInfo, *, end: bool, field: str) -> datetime:
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return datetime.combine(day + timedelta(days=1) if end else day, time.min, zone)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise BadBound(field, f"{field} must be a date (YYYY-MM-DD) or an ISO datetime") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=zone)
