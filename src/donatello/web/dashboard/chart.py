"""The burn-down chart's geometry: the report's figures placed in an SVG drawing, rendered by the
template (no script, no inline style: the page's CSP allows neither). Each plotted point keeps the exact
figure it stands for, so the drawing can be checked against the API to the cent."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from donatello.reports.schemas import BurnDown

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 66, 16, 12, 30
ZERO = Decimal(0)


@dataclass(frozen=True)
class Point:
    x: float
    y: float


@dataclass(frozen=True)
class SpendPoint(Point):
    day: str
    cumulative_aud: Decimal
    budget_aud: Decimal | None


@dataclass(frozen=True)
class Tick:
    y: float
    amount: Decimal

    @property
    def label(self) -> str:
        """Short enough to read on a phone: A$0, A$250, A$2.5k, A$10k (the table has the cents)."""
        if self.amount >= 1000:
            return f"A${self.amount / 1000:.1f}k".replace(".0k", "k")
        if self.amount >= 1 or self.amount == 0:
            return f"A${self.amount:.2f}".replace(".00", "")
        return f"A${self.amount:.2f}"


@dataclass(frozen=True)
class DayTick:
    x: float
    label: str


@dataclass(frozen=True)
class BurnDownChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: float
    points: list[SpendPoint]
    spend_path: str
    budget_path: str  # the budget as of each day, stepping up with top-ups, carried to the period end
    straight_path: str  # last spend point to the straight-line forecast at the period's end
    trailing_path: str
    straight_end: Point
    trailing_end: Point
    ticks: list[Tick]
    days: list[DayTick]


def _path(points: list[Point]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(points))


def _ceiling(value: Decimal) -> Decimal:
    """A round top for the axis, at least ``value``: 1, 2, 4, 6, 8 or 10 times a power of ten (so the
    quarter ticks stay round)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (len(str(int(value))) - 1)
    for step in (1, 2, 4, 6, 8, 10):
        if value <= magnitude * step:
            return magnitude * step
    return magnitude * 10  # pragma: no cover - the loop always returns


def burn_down_chart(report: BurnDown) -> BurnDownChart:
    right = WIDTH - RIGHT
    bottom = HEIGHT - BOTTOM
    last_index = max(report.days_in_period - 1, 1)
    budgets = [d.budget_aud for d in report.days if d.budget_aud is not None]
    highest = max(
        [report.spent_aud, report.forecast_straight_line_aud, report.forecast_trailing_7_day_aud, *budgets]
    )
    top_amount = _ceiling(highest * Decimal("1.05"))

    def x(index: int) -> float:
        return LEFT + (right - LEFT) * index / last_index

    def y(amount: Decimal) -> float:
        return float(bottom - (bottom - TOP) * max(amount, ZERO) / top_amount)

    points = [
        SpendPoint(x(i), y(d.cumulative_aud), d.day.isoformat(), d.cumulative_aud, d.budget_aud)
        for i, d in enumerate(report.days)
    ]
    budget_points: list[Point] = []
    for i, d in enumerate(report.days):
        if d.budget_aud is None:
            continue
        if budget_points and budget_points[-1].y != y(d.budget_aud):
            budget_points.append(Point(x(i), budget_points[-1].y))  # a top-up: a vertical step
        budget_points.append(Point(x(i) if budget_points else LEFT, y(d.budget_aud)))
    if budget_points:
        budget_points.append(Point(right, budget_points[-1].y))
    last = points[-1] if points else Point(LEFT, bottom)
    straight_end = Point(right, y(report.forecast_straight_line_aud))
    trailing_end = Point(right, y(report.forecast_trailing_7_day_aud))
    ticks = [Tick(y(top_amount * k / 4), top_amount * k / 4) for k in range(5)]
    middle = report.days_in_period // 2
    days = [
        DayTick(x(0), report.period_start.strftime("%-d %b")),
        DayTick(x(middle), f"{middle + 1}"),
        DayTick(x(report.days_in_period - 1), report.period_end.strftime("%-d %b")),
    ]
    return BurnDownChart(
        width=WIDTH,
        height=HEIGHT,
        plot_left=LEFT,
        plot_right=right,
        plot_bottom=bottom,
        points=points,
        spend_path=_path(list(points)),
        budget_path=_path(budget_points),
        straight_path=_path([last, straight_end]),
        trailing_path=_path([last, trailing_end]),
        straight_end=straight_end,
        trailing_end=trailing_end,
        ticks=ticks,
        days=days,
    )
