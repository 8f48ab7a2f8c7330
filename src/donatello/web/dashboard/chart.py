"""The burn-down chart's geometry: the report's series (``reports.burn_down_series``, the same rows as the
CSV download) placed in an SVG drawing, rendered by the template (no script, no inline style: the page's
CSP allows neither). Each line keeps the exact figures it draws, so the picture can be checked against
the file and the API to the cent. Two drawings of the same figures: a wide one, and a taller, narrower one
for phones, where scaling the wide one down would leave it a strip with unreadable labels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from donatello.reports.burn_down_series import SeriesRow, series
from donatello.reports.schemas import BurnDown

ZERO = Decimal(0)
CENT = Decimal("0.01")
LABEL_GAP = 14  # the forecasts' end labels sit at least this far apart, so both stay readable


@dataclass(frozen=True)
class Frame:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int


WIDE = Frame(width=640, height=260, left=66, right=16, top=14, bottom=30)
PHONE = Frame(width=360, height=280, left=58, right=10, top=14, bottom=30)


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
        """Short enough to read on a phone: A$0, A$0.05, A$20, A$2.5k (the table has the cents)."""
        if self.amount >= 1000:
            return f"A${self.amount / 1000:.1f}k".replace(".0k", "k")
        if self.amount == self.amount.to_integral_value():
            return f"A${self.amount:.0f}"
        return f"A${self.amount:.2f}"


@dataclass(frozen=True)
class DayTick:
    x: float
    label: str


@dataclass(frozen=True)
class Line:
    """One series as drawn: its path and, in ``figures``, the exact day=amount pairs it passes through."""

    series: str
    path: str
    figures: str


@dataclass(frozen=True)
class EndLabel:
    x: float
    y: float
    text: str


@dataclass(frozen=True)
class BurnDownChart:
    width: int
    height: int
    plot_left: int
    plot_right: int
    plot_bottom: float
    points: list[SpendPoint]
    spend: Line
    budget: Line  # the budget as of each day, stepping on the day it changed, carried to the period end
    straight: Line  # from the last day so far to the straight-line forecast at the period's end
    trailing: Line
    straight_end: Point
    trailing_end: Point
    labels: list[EndLabel]
    ticks: list[Tick]
    days: list[DayTick]

    @property
    def budget_path(self) -> str:
        return self.budget.path

    @property
    def lines(self) -> list[Line]:
        return [self.budget, self.trailing, self.straight, self.spend]  # drawn in this order


def nice_ticks(highest: Decimal, most: int = 5) -> list[Decimal]:
    """Round amounts from 0 to just above ``highest``: a step of 1, 2 or 5 times a power of ten, the
    smallest that needs at most ``most`` intervals (A$0.18 -> 0, 0.05 ... 0.20; A$3,500 -> 0, 1k ... 4k)."""
    if highest <= 0:
        return [Decimal(k) / 4 for k in range(5)]
    magnitude = max(Decimal(1).scaleb((highest / most).adjusted()), CENT)  # a label shows cents at most
    for factor in (1, 2, 5, 10, 20):
        step = magnitude * factor
        intervals = int((highest / step).to_integral_value(rounding=ROUND_CEILING))
        if intervals <= most:
            return [step * k for k in range(intervals + 1)]
    raise AssertionError("a step of 20 times the magnitude always fits")  # pragma: no cover


def _path(points: list[Point]) -> str:
    return " ".join(f"{'M' if i == 0 else 'L'}{p.x:.1f},{p.y:.1f}" for i, p in enumerate(points))


def burn_down_chart(report: BurnDown, frame: Frame = WIDE) -> BurnDownChart:
    rows = series(report)
    right = frame.width - frame.right
    bottom = frame.height - frame.bottom
    last_index = max(report.days_in_period - 1, 1)
    drawn = [
        value
        for row in rows
        for value in (row.cumulative_aud, row.budget_aud, row.forecast_straight_line_aud,
                      row.forecast_trailing_7_day_aud)
        if value is not None
    ]  # fmt: skip
    amounts = nice_ticks(max(drawn, default=ZERO))
    top_amount = amounts[-1]

    def x(index: int) -> float:
        return frame.left + (right - frame.left) * index / last_index

    def y(amount: Decimal) -> float:
        return float(bottom - (bottom - frame.top) * max(amount, ZERO) / top_amount)

    def line(name: str, value: Callable[[SeriesRow], Decimal | None], *, steps: bool = False) -> Line:
        placed: list[Point] = []
        figures: list[str] = []
        for i, row in enumerate(rows):
            amount = value(row)
            if amount is None:
                continue
            if steps and placed and placed[-1].y != y(amount):
                placed.append(Point(x(i), placed[-1].y))  # a change: a vertical step on its day
            placed.append(Point(x(i), y(amount)))
            figures.append(f"{row.day.isoformat()}={amount}")
        return Line(name, _path(placed), " ".join(figures))

    points = [
        SpendPoint(x(i), y(d.cumulative_aud), d.day.isoformat(), d.cumulative_aud, d.budget_aud)
        for i, d in enumerate(report.days)
    ]
    straight_end = Point(right, y(report.forecast_straight_line_aud))
    trailing_end = Point(right, y(report.forecast_trailing_7_day_aud))
    middle = report.days_in_period // 2
    return BurnDownChart(
        width=frame.width,
        height=frame.height,
        plot_left=frame.left,
        plot_right=right,
        plot_bottom=bottom,
        points=points,
        spend=line("cumulative_aud", lambda r: r.cumulative_aud),
        budget=line("budget_aud", lambda r: r.budget_aud, steps=True),
        straight=line("forecast_straight_line_aud", lambda r: r.forecast_straight_line_aud),
        trailing=line("forecast_trailing_7_day_aud", lambda r: r.forecast_trailing_7_day_aud),
        straight_end=straight_end,
        trailing_end=trailing_end,
        labels=_end_labels(straight_end, trailing_end, frame.top),
        ticks=[Tick(y(amount), amount) for amount in amounts],
        days=[
            DayTick(x(0), report.period_start.strftime("%-d %b")),
            DayTick(x(middle), f"{middle + 1}"),
            DayTick(x(report.days_in_period - 1), report.period_end.strftime("%-d %b")),
        ],
    )


def _end_labels(straight: Point, trailing: Point, top: int) -> list[EndLabel]:
    """Each forecast named at its end, just above it; when the two ends (nearly) meet, the higher label
    moves up so neither hides the other."""
    higher, lower = sorted([(straight, "straight line"), (trailing, "7-day pace")], key=lambda e: e[0].y)
    lower_y = lower[0].y - 6
    higher_y = min(higher[0].y - 6, lower_y - LABEL_GAP)
    if higher_y < top + 8:  # no room above: the lower one goes below its end instead
        higher_y, lower_y = max(higher_y, top + 8), max(lower_y, top + 8 + LABEL_GAP)
    return [
        EndLabel(higher[0].x - 8, higher_y, higher[1]),
        EndLabel(lower[0].x - 8, lower_y, lower[1]),
    ]
