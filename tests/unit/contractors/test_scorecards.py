import datetime as dt
import math

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from services.contractors.domain.events import EventKind, JobEvent
from services.contractors.domain.scorecards import (
    METRICS,
    Metric,
    Period,
    compute_scorecards_from_events,
    compute_scorecards_naive,
    load_scoring_weights,
)
from shared.domain_errors import InvalidValue

W = load_scoring_weights()
P = Period(2026, 3)
DAY = dt.date(2026, 3, 10)


def ev(contractor, kind, day=DAY, region="zz", elevator="E1", **kw):
    if kind is EventKind.RESCUE:
        kw.setdefault("arrival_minutes", 10)
    if kind is EventKind.REPAIR:
        kw.setdefault("part", "door_operator")
        kw.setdefault("repaired_within_24h", True)
    if kind is EventKind.QUOTE:
        kw.setdefault("quoted_fen", 10_000)
        kw.setdefault("trimmed_fen", 0)
    if kind is EventKind.INSPECTION:
        kw.setdefault("inspection_first_pass", True)
    return JobEvent(contractor, region, elevator, kind, day, **kw)


def test_metric_codes_are_frozen():
    assert [m.value for m in METRICS] == [
        "rescue_within_15",
        "rescue_within_30",
        "repair_within_24h",
        "first_time_fix",
        "maintenance_on_schedule",
        "quote_untrimmed",
        "evidence_clean",
        "complaint_free",
        "inspection_first_pass",
    ]


def test_empty_period_gives_no_scorecards():
    events = [ev("A", EventKind.RESCUE, day=dt.date(2026, 1, 5))]
    assert compute_scorecards_from_events(events, P, W) == ()
    assert compute_scorecards_naive(events, P, W) == ()
    assert compute_scorecards_from_events([], P, W) == ()


def test_events_after_the_period_do_not_change_it():
    before = [ev("A", EventKind.RESCUE), ev("B", EventKind.RESCUE, arrival_minutes=40)]
    later = [*before, ev("A", EventKind.RESCUE, day=dt.date(2026, 4, 2), arrival_minutes=99)]
    assert compute_scorecards_from_events(before, P, W) == compute_scorecards_from_events(
        later, P, W
    )


def test_repeat_fault_within_30_days_is_not_a_first_time_fix_even_across_months():
    events = [
        ev("A", EventKind.REPAIR, day=dt.date(2026, 2, 20)),
        ev("A", EventKind.REPAIR, day=dt.date(2026, 3, 15)),  # 23 days later: repeat
        ev("A", EventKind.REPAIR, day=dt.date(2026, 3, 15), part="brake"),  # other part
    ]
    (card,) = compute_scorecards_from_events(events, P, W)
    m = card.metric(Metric.FIRST_TIME_FIX)
    assert (m.successes, m.trials) == (1, 2)


def test_maintenance_gap_over_15_days_is_late():
    events = [
        ev("A", EventKind.MAINTENANCE, day=dt.date(2026, 2, 20)),
        ev("A", EventKind.MAINTENANCE, day=dt.date(2026, 3, 1)),  # 9 days
        ev("A", EventKind.MAINTENANCE, day=dt.date(2026, 3, 20)),  # 19 days: late
    ]
    (card,) = compute_scorecards_from_events(events, P, W)
    m = card.metric(Metric.MAINTENANCE_ON_SCHEDULE)
    assert (m.successes, m.trials) == (1, 2)


def test_quote_metric_is_share_of_money_untrimmed():
    events = [
        ev("A", EventKind.QUOTE, quoted_fen=30_000, trimmed_fen=6_000),
        ev("A", EventKind.QUOTE, quoted_fen=10_000, trimmed_fen=0),
    ]
    (card,) = compute_scorecards_from_events(events, P, W)
    assert card.metric(Metric.QUOTE_UNTRIMMED).raw_rate == pytest.approx(0.85)


def test_ties_share_rank_and_percentile():
    events = [ev(c, EventKind.RESCUE, elevator=c) for c in ("A", "B")] + [
        ev("C", EventKind.RESCUE, elevator="C", arrival_minutes=50)
    ]
    cards = {c.contractor_id: c for c in compute_scorecards_from_events(events, P, W)}
    assert cards["A"].composite == cards["B"].composite > cards["C"].composite
    assert (cards["A"].rank, cards["B"].rank, cards["C"].rank) == (1, 1, 3)
    assert cards["A"].percentile == cards["B"].percentile == 75.0
    assert cards["C"].percentile == 0.0
    assert all(c.peers == 3 for c in cards.values())


def test_peers_are_compared_within_their_region_only():
    events = [ev("A", EventKind.RESCUE), ev("B", EventKind.RESCUE, region="tj", arrival_minutes=50)]
    cards = compute_scorecards_from_events(events, P, W)
    assert [(c.region, c.rank, c.peers, c.percentile) for c in cards] == [
        ("tj", 1, 1, 100.0),
        ("zz", 1, 1, 100.0),
    ]


@settings(max_examples=40, deadline=None)
@given(small=st.integers(1, 5), extra=st.integers(20, 200), good_share=st.floats(0.0, 1.0))
@example(small=4, extra=20, good_share=0.125)  # a clipped interval, found by a CI run
def test_shrinkage_moves_small_samples_more_than_large(small, extra, good_share):
    """Same raw rate, fewer jobs → closer to the regional mean and a wider interval."""
    large = small + extra
    events = []
    for name, n in (("small", small), ("large", large)):
        good = round(n * good_share)
        events += [
            ev(name, EventKind.RESCUE, elevator=f"{name}{i}", arrival_minutes=5 if i < good else 45)
            for i in range(n)
        ]
    events += [
        ev(f"peer{i}", EventKind.RESCUE, elevator=f"p{i}", arrival_minutes=5 + 10 * i)
        for i in range(6)
    ]
    cards = {c.contractor_id: c for c in compute_scorecards_from_events(events, P, W)}
    s, lg = (cards[n].metric(Metric.RESCUE_WITHIN_15) for n in ("small", "large"))
    assert s.shrinkage > lg.shrinkage
    assert s.n_effective < lg.n_effective
    # The interval is a normal approximation clipped to [0, 1]: near a bound the clipping can
    # hide the small sample's wider spread, so widths are compared where neither is clipped.
    if s.lower > 0 and s.upper < 1 and lg.lower > 0 and lg.upper < 1:
        assert s.upper - s.lower >= lg.upper - lg.lower - 1e-12
    for m in (s, lg):
        assert abs(m.shrunk_rate - m.prior_mean) <= abs(m.raw_rate - m.prior_mean) + 1e-12
        assert m.lower <= m.shrunk_rate <= m.upper


def test_no_jobs_of_a_kind_scores_the_regional_mean():
    events = [ev("A", EventKind.RESCUE), ev("B", EventKind.INSPECTION)]
    cards = {c.contractor_id: c for c in compute_scorecards_from_events(events, P, W)}
    b = cards["B"].metric(Metric.RESCUE_WITHIN_15)
    assert b.raw_rate is None and b.shrinkage == 1.0 and b.shrunk_rate == b.prior_mean == 1.0


def test_bad_events_are_refused():
    with pytest.raises(InvalidValue) as err:
        JobEvent("A", "zz", "E1", EventKind.RESCUE, DAY)
    assert err.value.field == "arrival_minutes"
    with pytest.raises(InvalidValue):
        JobEvent("A", "zz", "E1", EventKind.QUOTE, DAY, quoted_fen=100, trimmed_fen=200)
    with pytest.raises(InvalidValue):
        JobEvent("", "zz", "E1", EventKind.COMPLAINT, DAY)
    with pytest.raises(InvalidValue):
        JobEvent("A", "zz", "E1", EventKind.COMPLAINT, DAY, arrival_minutes=3)
    with pytest.raises(InvalidValue):
        Period.parse("2026-13")


_kinds = st.sampled_from(list(EventKind))


@st.composite
def random_event(draw):
    kind = draw(_kinds)
    kw = {}
    if kind is EventKind.RESCUE:
        kw["arrival_minutes"] = draw(st.sampled_from([0, 10, 15, 20, 30, 31, 90]))
    if kind is EventKind.REPAIR:
        kw["part"] = draw(st.sampled_from(["brake", "door", "board"]))
        kw["repaired_within_24h"] = draw(st.booleans())
    if kind is EventKind.QUOTE:
        q = draw(st.integers(0, 50_000))
        kw["quoted_fen"], kw["trimmed_fen"] = q, draw(st.integers(0, q))
    if kind is EventKind.INSPECTION:
        kw["inspection_first_pass"] = draw(st.booleans())
    return JobEvent(
        draw(st.sampled_from(["c1", "c2", "c3", "c4", "c5"])),
        draw(st.sampled_from(["zz", "tj"])),
        draw(st.sampled_from(["E1", "E2", "E3"])),
        kind,
        dt.date(2026, 1, 1) + dt.timedelta(days=draw(st.integers(0, 120))),
        **kw,
    )


def _close(a, b):
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@settings(max_examples=60, deadline=None)
@given(events=st.lists(random_event(), max_size=60), month=st.sampled_from([2, 3, 4]))
def test_bulk_path_equals_naive_path(events, month):
    period = Period(2026, month)
    bulk = compute_scorecards_from_events(events, period, W)
    naive = compute_scorecards_naive(events, period, W)
    assert [(c.contractor_id, c.region) for c in bulk] == [
        (c.contractor_id, c.region) for c in naive
    ]
    for b, n in zip(bulk, naive, strict=True):
        assert (b.events, b.peers) == (n.events, n.peers)
        assert _close(b.composite, n.composite)
        for mb, mn in zip(b.metrics, n.metrics, strict=True):
            for field in (
                "successes", "trials", "raw_rate", "prior_mean", "shrunk_rate", "lower",
                "upper", "n_effective", "shrinkage",
            ):  # fmt: skip
                assert _close(getattr(mb, field), getattr(mn, field)), (mb.metric, field)
        scores = [c.composite for c in bulk if c.region == b.region and c is not b]
        if all(abs(s - b.composite) > 1e-5 or s == b.composite for s in scores):
            assert (b.rank, b.percentile) == (n.rank, n.percentile)
