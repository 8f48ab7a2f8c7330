"""The burn-down drawing: a top-up is a step up in the budget line on the day it was approved, the
forecasts end at the period's last day, and every point keeps the exact figure it plots."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

from donatello.reports.schemas import BurnDown, BurnDownDay
from donatello.reports.tables import to_csv
from donatello.web.dashboard.chart import PHONE, burn_down_chart, nice_ticks


def _report() -> BurnDown:
    start = date(2026, 11, 1)
    days = []
    cumulative = Decimal(0)
    for offset in range(10):
        spent = Decimal("100.0125")
        cumulative += spent
        budget = Decimal("3000.00") if offset < 6 else Decimal("3500.00")  # a top-up on the 7th
        days.append(
            BurnDownDay(
                day=start + timedelta(days=offset),
                spent_aud=spent,
                cumulative_aud=cumulative,
                budget_aud=budget,
                budget_line_aud=None,
            )
        )
    return BurnDown(
        department_id=uuid.uuid4(),
        department_code="MKTG",
        period_start=start,
        period_end=date(2026, 11, 30),
        budget_aud=Decimal("3500.00"),
        spent_aud=cumulative,
        days_elapsed=10,
        days_in_period=30,
        forecast_straight_line_aud=Decimal("3000.3750"),
        forecast_trailing_7_day_aud=Decimal("3000.3750"),
        projected_over_under_straight_line_aud=Decimal("-499.6250"),
        projected_over_under_trailing_7_day_aud=Decimal("-499.6250"),
        days=days,
    )


def test_a_top_up_steps_the_budget_line_up_on_its_day_and_points_keep_their_figures() -> None:
    chart = burn_down_chart(_report())

    corners = [
        tuple(map(float, pair.split(","))) for pair in re.findall(r"[ML]([\d.]+,[\d.]+)", chart.budget_path)
    ]
    heights = sorted({y for _, y in corners})
    assert len(heights) == 2  # before and after the top-up, nothing else
    step_x = round(chart.points[6].x, 1)
    assert (step_x, max(heights)) in corners and (step_x, min(heights)) in corners  # vertical at day 7
    assert corners[-1][0] == chart.plot_right  # carried to the period's end
    assert [p.cumulative_aud for p in chart.points][-1] == Decimal("1000.1250")
    assert chart.straight_end.x == chart.plot_right
    assert chart.ticks[-1].amount >= Decimal("3500.00") and chart.ticks[-1].label == "A$4k"
    assert all(chart.plot_bottom >= p.y >= 0 for p in chart.points)


def test_the_axis_runs_in_round_steps_to_just_above_the_largest_figure() -> None:
    assert nice_ticks(Decimal("0.18")) == [Decimal(n) / 100 for n in (0, 5, 10, 15, 20)]
    assert nice_ticks(Decimal("3500.00"))[-1] == Decimal(4000)
    assert nice_ticks(Decimal("80.00")) == [Decimal(n) for n in (0, 20, 40, 60, 80)]
    assert nice_ticks(Decimal(0))[-1] == Decimal(1)
    assert nice_ticks(Decimal("0.0004")) == [Decimal(0), Decimal("0.01")]  # never a step finer than a cent
    report = _report().model_copy(
        update={"forecast_straight_line_aud": Decimal("0.18"), "forecast_trailing_7_day_aud": Decimal("0.18")}
    )
    report.days[:] = [
        d.model_copy(update={"cumulative_aud": Decimal("0.06"), "budget_aud": None}) for d in report.days
    ]
    labels = [tick.label for tick in burn_down_chart(report).ticks]
    assert labels == ["A$0", "A$0.05", "A$0.10", "A$0.15", "A$0.20"]


def test_overlapping_forecasts_stay_apart_and_the_phone_drawing_is_tall() -> None:
    report = _report()  # both forecasts end at the same figure
    chart = burn_down_chart(report)
    assert chart.straight_end == chart.trailing_end
    first, second = chart.labels
    assert abs(first.y - second.y) >= 14 and {first.text, second.text} == {"straight line", "7-day pace"}
    phone = burn_down_chart(report, PHONE)
    assert phone.height / phone.width * 350 >= 220  # at 350 px across (a 390 px phone), 220 px tall


def test_every_drawn_line_carries_the_csv_series_it_draws() -> None:
    report = _report()
    chart = burn_down_chart(report)
    rows = list(csv.DictReader(io.StringIO(to_csv(report))))
    for line in chart.lines:
        drawn = dict(pair.split("=") for pair in line.figures.split())
        assert drawn == {r["day"]: r[line.series] for r in rows if r[line.series]}, line.series
    corners = re.findall(r"[ML]([\d.]+),", chart.straight.path)
    assert len(corners) == 21  # from the 10th to the 30th, a point a day
