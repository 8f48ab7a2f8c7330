"""Each report's table as CSV (money written exactly, as in the JSON; text a spreadsheet would run made
inert by ``core.spreadsheets``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from pydantic import BaseModel

from donatello.core.spreadsheets import csv_row
from donatello.reports import burn_down_series
from donatello.reports.schemas import (
    BurnDown,
    CostCentreSpend,
    CurrentStatus,
    OrganizationRollup,
    PeriodComparison,
    PeriodSummary,
    SpendTable,
)


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    return csv_row(header) + "".join(csv_row(row) for row in rows)


_SUMMARY = [
    "department_id",
    "department_code",
    "department_name",
    "period_start",
    "period_end",
    "budget_aud",
    "net_aud",
    "charges_aud",
    "refunds_aud",
    "corrections_aud",
    "images",
    "events",
    "utilization_percent",
    "refused_requests",
    "over_budget_requests",
    "over_budget_charges",
]


def _summary_row(s: PeriodSummary) -> list[object]:
    t = s.totals
    return [
        s.department_id, s.department_code, s.department_name, s.period_start, s.period_end, s.budget_aud,
        t.net_aud, t.charges_aud, t.refunds_aud, t.corrections_aud, t.images, t.events,
        s.utilization_percent, s.refused_requests, s.over_budget_requests, s.over_budget_charges,
    ]  # fmt: skip


def to_csv(report: BaseModel) -> str:
    if isinstance(report, SpendTable):
        header = [
            "key",
            "label",
            "net_aud",
            "charges_aud",
            "refunds_aud",
            "corrections_aud",
            "images",
            "events",
        ]
        return _csv(
            header,
            ([r.key, r.label, r.net_aud, r.charges_aud, r.refunds_aud, r.corrections_aud, r.images, r.events]
             for r in report.rows),
        )  # fmt: skip
    if isinstance(report, CostCentreSpend):
        return _csv(
            ["cost_center", "net_aud", "charges_aud", "refunds_aud", "corrections_aud", "images", "events"],
            ([r.key, r.net_aud, r.charges_aud, r.refunds_aud, r.corrections_aud, r.images, r.events]
             for r in report.rows),
        )  # fmt: skip
    if isinstance(report, BurnDown):
        return _csv(burn_down_series.COLUMNS, (row.cells() for row in burn_down_series.series(report)))
    if isinstance(report, OrganizationRollup):
        return _csv(_SUMMARY, (_summary_row(s) for s in report.departments))
    if isinstance(report, PeriodComparison):
        return _csv(_SUMMARY, (_summary_row(s) for s in report.periods))
    if isinstance(report, CurrentStatus):
        return _csv(
            [*_SUMMARY, "enforcement_mode", "reserved_aud", "available_aud"],
            [[*_summary_row(report), report.enforcement_mode, report.reserved_aud, report.available_aud]],
        )
    if isinstance(report, PeriodSummary):
        return _csv(_SUMMARY, [_summary_row(report)])
    raise TypeError(f"no CSV layout for {type(report).__name__}")


#: Excel reads a CSV as the machine's code page unless it starts with a UTF-8 byte-order mark.
EXCEL_BOM = "\ufeff"


def filename(report: BaseModel) -> str:
    """``MKTG-spend-by-user-2026-11.csv``: which department, what, which month — without opening it."""
    month = f"{report.period_start:%Y-%m}" if hasattr(report, "period_start") else ""
    if isinstance(report, SpendTable):
        parts = [report.department_code, f"spend-by-{report.group_by}", month]
    elif isinstance(report, BurnDown):
        parts = [report.department_code, "burn-down", month]
    elif isinstance(report, PeriodComparison):
        parts = [report.department_code, "periods", f"{len(report.periods)}-months-to", _newest(report)]
    elif isinstance(report, OrganizationRollup):
        parts = [report.organization_domain, "departments", month]
    elif isinstance(report, CostCentreSpend):
        parts = [report.organization_domain, "cost-centres", month]
    elif isinstance(report, PeriodSummary):
        parts = [report.department_code, "status", month]
    else:
        raise TypeError(f"no file name for {type(report).__name__}")
    return "-".join(_safe(part) for part in parts if part) + ".csv"


def _newest(report: PeriodComparison) -> str:
    return f"{report.periods[0].period_start:%Y-%m}" if report.periods else ""


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in ".-_" else "_" for c in part)
