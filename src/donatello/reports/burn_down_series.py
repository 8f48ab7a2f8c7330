"""The burn-down as the series its chart draws, one row per day of the period: spend and cumulative spend
on the days so far, the budget as of each day (carried flat to the period's end, as drawn), and the two
forecasts from the last day so far to the period's end. The CSV download and the chart are both made
from these rows, so the file holds exactly what the picture shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from donatello.core.money import TEN_THOUSANDTH
from donatello.reports.schemas import BurnDown

COLUMNS = (
    "day",
    "spent_aud",
    "cumulative_aud",
    "budget_aud",
    "forecast_straight_line_aud",
    "forecast_trailing_7_day_aud",
)
#: The series a chart draws as lines, by column.
LINES = COLUMNS[2:]


@dataclass(frozen=True)
class SeriesRow:
    day: date
    spent_aud: Decimal | None
    cumulative_aud: Decimal | None
    budget_aud: Decimal | None
    forecast_straight_line_aud: Decimal | None
    forecast_trailing_7_day_aud: Decimal | None

    def cells(self) -> list[object]:
        return [getattr(self, column) for column in COLUMNS]


def series(report: BurnDown) -> list[SeriesRow]:
    """Every day of the period. A forecast is a straight line from the last day's cumulative spend to its
    figure at the period's end, so its daily points are that line's, to the ledger's precision."""
    rows: list[SeriesRow] = []
    last = report.days[-1] if report.days else None
    start = last.cumulative_aud if last else None
    remaining = report.days_in_period - len(report.days)
    for offset in range(report.days_in_period):
        day = report.period_start + timedelta(days=offset)
        known = report.days[offset] if offset < len(report.days) else None
        ahead = offset - len(report.days) + 1  # 0 on the last day so far, then 1, 2, ... to the end
        rows.append(
            SeriesRow(
                day=day,
                spent_aud=known.spent_aud if known else None,
                cumulative_aud=known.cumulative_aud if known else None,
                budget_aud=known.budget_aud if known else (last.budget_aud if last else None),
                forecast_straight_line_aud=_towards(
                    start, report.forecast_straight_line_aud, ahead, remaining
                ),
                forecast_trailing_7_day_aud=_towards(
                    start, report.forecast_trailing_7_day_aud, ahead, remaining
                ),
            )
        )
    return rows


def _towards(start: Decimal | None, end: Decimal, ahead: int, remaining: int) -> Decimal | None:
    if start is None or ahead < 0:
        return None
    if ahead == remaining:
        return end
    return (start + (end - start) * ahead / remaining).quantize(TEN_THOUSANDTH)
