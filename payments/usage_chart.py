"""The geometry of the usage page's pictures, drawn by the template as inline SVG and HTML.

No chart library and nothing from a CDN: the server computes coordinates, the template writes
them out, and a table with the same figures sits under each picture for screen readers and for
anyone who prefers numbers.
"""

from dataclasses import dataclass
from decimal import Decimal

from .selectors import Usage, UsageMonth

# The drawing's coordinate system (the SVG scales to the width of the page).
WIDTH = 720
HEIGHT = 310
LEFT, RIGHT, TOP, BOTTOM = 56, 60, 30, 44


def _nice_ceiling(value: Decimal) -> Decimal:
    """The smallest of 1, 2, 2.5, 5 × 10ⁿ that is at least ``value`` (for round axis ticks)."""
    if value <= 0:
        return Decimal(1)
    magnitude = Decimal(10) ** (value.adjusted())
    for step in (1, 2, Decimal("2.5"), 5, 10):
        if value <= step * magnitude:
            return step * magnitude
    return 10 * magnitude


@dataclass(frozen=True)
class Bar:
    month: UsageMonth
    x: float
    width: float
    y: float
    height: float
    centre: float
    point_y: float | None
    """Where the amount's dot sits (None: no bill this month)."""
    year_starts: bool
    """The first bar, or January: the year is written under it."""


@dataclass(frozen=True)
class Tick:
    y: float
    value: Decimal


@dataclass(frozen=True)
class UsageChart:
    width: int
    height: int
    left: int
    right: int
    baseline: float
    bars: list[Bar]
    kwh_ticks: list[Tick]
    amount_ticks: list[Tick]
    amount_paths: list[str]
    """SVG path data for the amount line, one path per run of consecutive billed months."""

    @property
    def plot_right(self) -> int:
        return self.width - self.right


def _ticks(top: Decimal, y_of) -> list[Tick]:
    """Round values from 0 to ``top``: quarters, or fifths when ``top`` is 2.5 × 10ⁿ (a quarter
    of 250 is 62.5; a fifth is 50)."""
    count = 5 if top.normalize().as_tuple().digits[:2] == (2, 5) else 4
    return [
        Tick(y_of(top * i / count, top), (top * i / count).normalize()) for i in range(count + 1)
    ]


def usage_chart(usage: Usage) -> UsageChart | None:
    """kWh as bars (left axis) and the amount as a line (right axis), month by month. None when
    there is no bill to draw."""
    months = usage.months
    if not usage.billed:
        return None
    kwh_top = _nice_ceiling(max(m.kwh for m in usage.billed) or Decimal(1))
    amount_top = _nice_ceiling(max(m.amount for m in usage.billed) or Decimal(1))
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    baseline = TOP + plot_height
    slot = plot_width / len(months)
    bar_width = slot * 0.62

    def y_of(value: Decimal, top: Decimal) -> float:
        return round(baseline - float(value / top) * plot_height, 1)

    bars, paths, run = [], [], []
    for index, month in enumerate(months):
        x = LEFT + index * slot
        centre = round(x + slot / 2, 1)
        if month.kwh is None:
            y, point_y = baseline, None
        else:
            y, point_y = y_of(month.kwh, kwh_top), y_of(month.amount, amount_top)
        bars.append(
            Bar(
                month=month,
                x=round(x + (slot - bar_width) / 2, 1),
                width=round(bar_width, 1),
                y=y,
                height=round(baseline - y, 1),
                centre=centre,
                point_y=point_y,
                year_starts=index == 0 or month.month.month == 1,
            )
        )
        if point_y is None:
            if run:
                paths.append(run)
            run = []
        else:
            run.append((centre, point_y))
    if run:
        paths.append(run)
    return UsageChart(
        width=WIDTH,
        height=HEIGHT,
        left=LEFT,
        right=RIGHT,
        baseline=baseline,
        bars=bars,
        kwh_ticks=_ticks(kwh_top, y_of),
        amount_ticks=_ticks(amount_top, y_of),
        amount_paths=[
            "M" + " L".join(f"{x},{y}" for x, y in points) for points in paths if len(points) > 1
        ],
    )


@dataclass(frozen=True)
class GaugeSegment:
    tier: int
    start: Decimal
    end: Decimal | None
    """None for the open-ended third tier."""
    width: float
    """Share of the gauge, in percent."""
    current: bool


@dataclass(frozen=True)
class TierGauge:
    segments: list[GaugeSegment]
    marker: float
    """Where the kWh used so far sits, in percent of the gauge's width."""


def tier_gauge(position) -> TierGauge:
    """Three tiers side by side, scaled to the thresholds, with a marker at the kWh used.
    The open third tier is drawn a quarter as wide as the ladder below it (more if the account
    is already far into it), so the marker always stays on the gauge."""
    limit1, limit2 = position.thresholds
    used = position.used_kwh
    scale_end = max(limit2 * Decimal("1.25"), used * Decimal("1.08"))
    bounds = [(1, Decimal(0), limit1), (2, limit1, limit2), (3, limit2, scale_end)]
    segments = [
        GaugeSegment(
            tier=tier,
            start=start,
            end=end if tier < 3 else None,
            width=round(float((end - start) / scale_end) * 100, 2),
            current=tier == position.tier,
        )
        for tier, start, end in bounds
    ]
    return TierGauge(segments=segments, marker=round(float(used / scale_end) * 100, 2))
