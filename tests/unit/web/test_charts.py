"""Chart geometry: scales, nice ticks, lines with gaps, bars with whiskers."""

from __future__ import annotations

import pytest

from services.web.domain.charts import (
    BarInput,
    LinearScale,
    bar_chart,
    line_chart,
    nice_ticks,
    number_label,
    percent_label,
    sparkline,
)


@pytest.mark.parametrize(
    ("low", "high", "count", "ticks"),
    [
        (0, 100, 5, (0, 20, 40, 60, 80, 100)),
        (0, 1, 5, (0, 0.2, 0.4, 0.6, 0.8, 1.0)),
        (0, 1, 4, (0, 0.5, 1.0)),  # 0.25 is not 1, 2 or 5 × 10ⁿ
        (62.4, 81.7, 5, (60, 65, 70, 75, 80, 85)),
        (0.3, 0.3 * 3, 3, (0.2, 0.4, 0.6, 0.8, 1.0)),
        (-7, 3, 5, (-8, -6, -4, -2, 0, 2, 4)),
        (50, 50, 5, (49, 49.5, 50, 50.5, 51)),
        (81.7, 62.4, 5, (60, 65, 70, 75, 80, 85)),  # given backwards
    ],
)
def test_ticks_are_round_and_cover_the_values(low, high, count, ticks) -> None:
    assert nice_ticks(low, high, count) == pytest.approx(ticks)
    got = nice_ticks(low, high, count)
    assert got[0] <= min(low, high) and got[-1] >= max(low, high)


def test_tick_values_carry_no_float_noise() -> None:
    assert [number_label(t) for t in nice_ticks(0, 0.7, 7)] == [
        "0", "0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7"
    ]  # fmt: skip


def test_labels() -> None:
    assert [number_label(v) for v in (80, 80.0, 72.5, 0.25)] == ["80", "80", "72.5", "0.25"]
    assert [percent_label(v) for v in (0, 0.8, 0.925, 1)] == ["0%", "80%", "92.5%", "100%"]


def test_a_scale_maps_and_clamps_and_may_run_backwards() -> None:
    up = LinearScale((0, 100), (200, 10))  # SVG y grows downwards
    assert [up(0), up(50), up(100)] == [200, 105, 10]
    assert [up(-5), up(120)] == [200, 10]  # never outside the box
    assert LinearScale((3, 3), (0, 10))(3) == 5  # a point domain sits in the middle


def test_a_line_chart_places_months_evenly_and_values_by_the_domain() -> None:
    chart = line_chart(
        [("2026-08", 50.0), ("2026-09", 100.0), ("2026-10", 0.0)],
        domain=(0, 100),
        width=240,
        height=120,
        margin=(10, 20, 10, 20),
    )
    assert (chart.plot.left, chart.plot.top, chart.plot.right, chart.plot.bottom) == (
        20, 10, 220, 110
    )  # fmt: skip
    assert [(p.x, p.y) for p in chart.points] == [(20, 60), (120, 10), (220, 110)]
    assert chart.lines == ("20,60 120,10 220,110",)
    assert [t.label for t in chart.y_ticks] == ["0", "20", "40", "60", "80", "100"]
    assert [t.at for t in chart.y_ticks] == [110, 90, 70, 50, 30, 10]
    assert chart.missing == ()


def test_a_month_without_a_value_breaks_the_line_instead_of_dropping_to_zero() -> None:
    chart = line_chart(
        [("a", 10.0), ("b", 20.0), ("c", None), ("d", 30.0), ("e", None)],
        domain=(0, 40),
        width=140,
        height=60,
        margin=(10, 10, 10, 10),
    )
    assert [p.category for p in chart.points] == ["a", "b", "d"]
    assert chart.lines == ("10,40 40,30", "100,20")
    assert chart.missing == ("c", "e")
    assert min(p.y for p in chart.points) > chart.plot.top  # no point drawn at zero


def test_without_a_domain_the_axis_spans_the_values_nice_ticks() -> None:
    chart = line_chart([("a", 62.4), ("b", 81.7)], width=300, height=200)
    assert [t.value for t in chart.y_ticks] == [60, 65, 70, 75, 80, 85]
    assert chart.y_ticks[0].at == chart.plot.bottom and chart.y_ticks[-1].at == chart.plot.top


def test_edge_cases_one_point_and_none_at_all() -> None:
    one = line_chart([("2026-10", 70.0)], domain=(0, 100), width=200, margin=(0, 0, 0, 0))
    assert [(p.x, p.category) for p in one.points] == [(100, "2026-10")]
    assert one.lines == ("100,66",) and [t.label for t in one.x_ticks] == ["2026-10"]
    empty = line_chart([("a", None), ("b", None)])
    assert empty.points == () and empty.lines == () and empty.missing == ("a", "b")
    assert line_chart([]).points == ()


def test_crowded_x_labels_are_thinned_keeping_the_newest() -> None:
    months = [(f"2026-{m:02d}", float(m)) for m in range(1, 13)]
    chart = line_chart(months, width=400, margin=(0, 0, 0, 0), label_room=70)
    labels = [t.label for t in chart.x_ticks]
    assert labels[-1] == "2026-12" and len(labels) < 12
    gaps = {b.at - a.at for a, b in zip(chart.x_ticks, chart.x_ticks[1:], strict=False)}
    assert min(gaps) >= 70
    roomy = line_chart(months, width=2000, margin=(0, 0, 0, 0), label_room=70)
    assert len(roomy.x_ticks) == 12


def test_a_sparkline_has_no_axes() -> None:
    line = sparkline([("a", 0.0), ("b", 1.0)], width=100, height=20)
    assert line.y_ticks == ()
    assert line.lines == ("3,17 97,3",)


def test_bars_grow_from_the_left_with_whiskers_and_markers() -> None:
    chart = bar_chart(
        [
            BarInput("rescue_within_15", 0.5, low=0.25, high=0.75, marker=1.0),
            BarInput("complaint_free", None),
            BarInput("evidence_clean", 1.2),  # impossible, but drawn at the edge
        ],
        width=300,
        row_height=20,
        gap=10,
        margin=(5, 0, 25, 100),
    )
    first, empty, full = chart.bars
    assert (first.x, first.y, first.width, first.height) == (100, 5, 100, 20)
    assert first.whisker == (150, 250) and first.marker == 300 and first.middle == 15
    assert (empty.y, empty.width, empty.whisker, empty.marker) == (35, 0, None, None)
    assert (full.y, full.width) == (65, 200)
    assert chart.height == 5 + 3 * 20 + 2 * 10 + 25
    assert [t.label for t in chart.x_ticks] == ["0%", "20%", "40%", "60%", "80%", "100%"]
    assert [t.at for t in chart.x_ticks] == [100, 140, 180, 220, 260, 300]
