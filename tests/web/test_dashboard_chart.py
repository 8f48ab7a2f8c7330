"""The burn-down drawing: a top-up is a step up in the budget line on the day it was approved, the
forecasts end at the period's last day, and every point keeps the exact figure it plots."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from decimal import Decimal

from donatello.reports.schemas import BurnDown, BurnDownDay
from donatello.web.dashboard.chart import burn_down_chart


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
