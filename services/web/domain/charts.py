"""Chart geometry for inline SVG: the numbers a template needs to draw a chart, no markup.

The pages draw their charts on the server (no JavaScript chart library, nothing from a CDN):
this module turns values into pixel coordinates — a linear scale, "nice" axis ticks (steps of
1, 2 or 5 × 10ⁿ), a line broken where a month has no value (a gap is not a zero), bars with
credible-interval whiskers — and the template draws them with words from the catalogue.
Coordinates are rounded to 0.1 px; values outside the domain are drawn at its edge, so a
chart never spills out of its box.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = [
    "Bar",
    "BarChart",
    "BarInput",
    "Box",
    "LineChart",
    "LinearScale",
    "Point",
    "Tick",
    "bar_chart",
    "line_chart",
    "nice_ticks",
    "number_label",
    "percent_label",
    "sparkline",
]


@dataclass(frozen=True)
class Box:
    """The plotting area inside the chart's margins, in SVG user units (y grows downwards)."""

    left: float
    top: float
    width: float
    height: float

    @property
    def right(self) -> float:
        return self.left + self.width

    @property
    def bottom(self) -> float:
        return self.top + self.height


@dataclass(frozen=True)
class LinearScale:
    """Maps ``domain`` onto ``span`` (either may run backwards); clamps to the domain."""

    domain: tuple[float, float]
    span: tuple[float, float]

    def __call__(self, value: float) -> float:
        d0, d1 = self.domain
        r0, r1 = self.span
        if d1 == d0:
            return _round((r0 + r1) / 2)
        low, high = min(d0, d1), max(d0, d1)
        clamped = min(max(value, low), high)
        return _round(r0 + (clamped - d0) * (r1 - r0) / (d1 - d0))


@dataclass(frozen=True)
class Tick:
    at: float  # pixel coordinate along the axis
    value: float
    label: str


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    category: str  # what the x axis counts, e.g. the month "2026-10"
    value: float


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    plot: Box
    points: tuple[Point, ...]
    # SVG <polyline points="…"> values, one per unbroken run of values.
    lines: tuple[str, ...]
    x_ticks: tuple[Tick, ...]
    y_ticks: tuple[Tick, ...]
    missing: tuple[str, ...]  # categories without a value


@dataclass(frozen=True)
class BarInput:
    key: str
    value: float | None
    low: float | None = None  # an interval around the value (whisker), if known
    high: float | None = None
    marker: float | None = None  # a second value marked on the bar (e.g. the raw rate)


@dataclass(frozen=True)
class Bar:
    key: str
    value: float | None
    x: float
    y: float
    width: float  # 0 when there is no value
    height: float
    whisker: tuple[float, float] | None
    marker: float | None

    @property
    def middle(self) -> float:
        return _round(self.y + self.height / 2)


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    plot: Box
    bars: tuple[Bar, ...]
    x_ticks: tuple[Tick, ...]


def _round(value: float) -> float:
    return round(value, 1) + 0.0  # + 0.0 turns -0.0 into 0.0


def nice_step(span: float, count: int) -> float:
    """The step of about ``count`` intervals over ``span``: 1, 2 or 5 times a power of ten."""
    if span <= 0 or count < 1:
        raise ValueError("span and count must be positive")
    raw = span / count
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    raise AssertionError("unreachable: raw / power < 10")  # pragma: no cover


def nice_ticks(low: float, high: float, count: int = 5) -> tuple[float, ...]:
    """Round tick values covering [low, high]: the first ≤ low, the last ≥ high."""
    if high < low:
        low, high = high, low
    if high == low:  # one value: a unit either side, so it sits mid-chart
        low, high = low - 1, high + 1
    step = nice_step(high - low, count)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    # Rounded to the step's decimals, so 0.1 * 3 is 0.3 and not 0.30000000000000004.
    decimals = max(0, -math.floor(math.log10(step)))
    return tuple(round(k * step, decimals) + 0.0 for k in range(first, last + 1))


def number_label(value: float) -> str:
    """``80`` for whole numbers, else as few decimals as the value needs (``0.25``)."""
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0")


def percent_label(value: float) -> str:
    """A rate 0–1 as a percentage: ``0.8`` → ``80%``."""
    return f"{number_label(round(value * 100, 4))}%"


def line_chart(
    series: Sequence[tuple[str, float | None]],
    *,
    domain: tuple[float, float] | None = None,
    width: int = 640,
    height: int = 220,
    margin: tuple[int, int, int, int] = (12, 32, 30, 44),
    y_ticks: int = 5,
    label: Callable[[float], str] = number_label,
    label_room: int = 60,
) -> LineChart:
    """Categories evenly along x (in order), values on y; ``None`` is a gap in the line.

    ``domain`` fixes the y axis (a score 0–100, a rate 0–1: the axis should not zoom into a
    wobble); without it the axis spans the values' nice ticks. ``margin`` is (top, right,
    bottom, left). The x axis labels every k-th category so labels ``label_room`` wide fit.
    """
    top, right, bottom, left = margin
    plot = Box(left, top, max(width - left - right, 1), max(height - top - bottom, 1))
    values = [v for _, v in series if v is not None]
    if domain is None:
        ticks = nice_ticks(min(values), max(values), y_ticks) if values else (0.0, 1.0)
        domain = (ticks[0], ticks[-1])
    else:
        ticks = nice_ticks(*domain, y_ticks) if y_ticks else ()
        ticks = tuple(t for t in ticks if domain[0] <= t <= domain[1])
    y = LinearScale(domain, (plot.bottom, plot.top))
    n = len(series)

    def x_at(i: int) -> float:
        if n == 1:
            return _round(plot.left + plot.width / 2)
        return _round(plot.left + i * plot.width / (n - 1))

    points: list[Point] = []
    runs: list[list[Point]] = [[]]
    for i, (category, value) in enumerate(series):
        if value is None:
            if runs[-1]:
                runs.append([])
            continue
        point = Point(x_at(i), y(value), category, value)
        points.append(point)
        runs[-1].append(point)
    lines = tuple(" ".join(f"{p.x:g},{p.y:g}" for p in run) for run in runs if run)

    every = max(1, math.ceil(n * label_room / plot.width)) if n else 1
    # Label the newest category always (it is the one people look for), then every k-th back.
    x_ticks = tuple(
        Tick(x_at(i), float(i), series[i][0]) for i in range(n) if (n - 1 - i) % every == 0
    )
    return LineChart(
        width=width,
        height=height,
        plot=plot,
        points=tuple(points),
        lines=lines,
        x_ticks=x_ticks,
        y_ticks=tuple(Tick(y(t), t, label(t)) for t in (ticks if y_ticks else ())),
        missing=tuple(c for c, v in series if v is None),
    )


def sparkline(
    values: Sequence[tuple[str, float | None]],
    *,
    domain: tuple[float, float] = (0.0, 1.0),
    width: int = 120,
    height: int = 28,
) -> LineChart:
    """A line without axes, to sit in a table cell beside the number it trends."""
    return line_chart(
        values, domain=domain, width=width, height=height, margin=(3, 3, 3, 3), y_ticks=0
    )


def bar_chart(
    rows: Sequence[BarInput],
    *,
    domain: tuple[float, float] = (0.0, 1.0),
    width: int = 640,
    row_height: int = 26,
    gap: int = 8,
    margin: tuple[int, int, int, int] = (8, 16, 26, 190),
    x_ticks: int = 5,
    label: Callable[[float], str] = percent_label,
) -> BarChart:
    """Horizontal bars, one row per input, from the domain's start; the left margin holds
    the row labels. A row without a value keeps its place with a zero-width bar."""
    top, right, bottom, left = margin
    inner = len(rows) * row_height + max(len(rows) - 1, 0) * gap
    height = top + inner + bottom
    plot = Box(left, top, max(width - left - right, 1), inner)
    x = LinearScale(domain, (plot.left, plot.right))
    bars = []
    for i, row in enumerate(rows):
        y0 = _round(plot.top + i * (row_height + gap))
        end = x(row.value) if row.value is not None else plot.left
        whisker = (
            (x(row.low), x(row.high)) if row.low is not None and row.high is not None else None
        )
        bars.append(
            Bar(
                key=row.key,
                value=row.value,
                x=plot.left,
                y=y0,
                width=_round(end - plot.left),
                height=row_height,
                whisker=whisker,
                marker=None if row.marker is None else x(row.marker),
            )
        )
    ticks = tuple(t for t in nice_ticks(*domain, x_ticks) if domain[0] <= t <= domain[1])
    return BarChart(
        width=width,
        height=height,
        plot=plot,
        bars=tuple(bars),
        x_ticks=tuple(Tick(x(t), t, label(t)) for t in ticks),
    )
