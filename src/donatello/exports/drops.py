"""Where scheduled exports land and what a schedule owes on a given day.

**Layout** (the FinOps hubs ingestion layout, in the drop container — ``ingestion`` by default):

* the month so far, replaced by each day's run and once more after the month closes::

      <dataset>/<yyyy>/<mm>/donatello/<organization domain>/<schedule>/costs.<suffix>  (+ manifest.json)

* one file per day (``daily``)::

      <dataset>-daily/<yyyy>/<mm>/<dd>/donatello/<organization domain>/<schedule>/costs.<suffix>

``<dataset>`` is ``Costs`` for the FOCUS formats and ``CostEvents`` for the ledger. A re-run writes the same
name, so a file is replaced, never duplicated; ``manifest.json`` is written after the data file, so a
pipeline triggered by it always finds the file complete.

**What is owed.** A schedule runs once a day at its local ``daily_at``. On day D it owes the file of D-1
(``daily``) and the month to date through D-1 (``month-to-date``; on the 1st, that is the whole previous
month), and, ``close_after_days`` days into a month, the previous month once more (``month-close``), so
refunds and corrections made just after the month ended are in the closed month's file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from donatello.exports.files import FOCUS_FORMATS, suffix_of


@dataclass(frozen=True)
class Owed:
    """One file a schedule owes: its kind and the local days it covers (inclusive)."""

    kind: str
    first_day: date
    last_day: date

    def instants(self, timezone: str) -> tuple[datetime, datetime]:
        """The range as instants: local midnight of the first day to local midnight after the last."""
        zone = ZoneInfo(timezone)
        return (
            datetime.combine(self.first_day, time.min, zone).astimezone(UTC),
            datetime.combine(self.last_day + timedelta(days=1), time.min, zone).astimezone(UTC),
        )


def owed_on(
    now_local: datetime,
    daily_at: time,
    *,
    daily: bool,
    month_to_date: bool,
    close_after_days: int,
    since: date,
) -> list[Owed]:
    """The files owed by the latest run day at ``now_local`` (none before the schedule's first run day,
    ``since``: a schedule does not backfill history)."""
    run_day = now_local.date() if now_local.time() >= daily_at else now_local.date() - timedelta(days=1)
    if run_day < since:
        return []
    yesterday = run_day - timedelta(days=1)
    owed = []
    if daily:
        owed.append(Owed("daily", yesterday, yesterday))
    if month_to_date:
        owed.append(Owed("month-to-date", yesterday.replace(day=1), yesterday))
        if run_day.day == 1 + close_after_days:
            last = run_day.replace(day=1) - timedelta(days=1)
            owed.append(Owed("month-close", last.replace(day=1), last))
    return owed


def path_of(
    kind: str,
    first_day: date,
    export_format: str,
    focus_version: str | None,
    organization_domain: str,
    schedule_name: str,
) -> str:
    """The file's name in the drop container (see the module's layout)."""
    dataset = "Costs" if export_format in FOCUS_FORMATS else "CostEvents"
    scope = f"donatello/{_segment(organization_domain)}/{_segment(schedule_name)}"
    suffix = suffix_of(export_format, focus_version)
    if kind == "daily":
        return f"{dataset}-daily/{first_day:%Y/%m/%d}/{scope}/costs.{suffix}"
    return f"{dataset}/{first_day:%Y/%m}/{scope}/costs.{suffix}"


def manifest_path(path: str) -> str:
    return path.rsplit("/", 1)[0] + "/manifest.json"


def _segment(text: str) -> str:
    """A name as one safe path segment: lower case, runs of anything else as one hyphen."""
    return re.sub(r"[^a-z0-9._-]+", "-", text.lower()).strip("-.")[:100] or "schedule"
