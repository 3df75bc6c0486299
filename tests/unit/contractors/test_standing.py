import dataclasses
import itertools

import pytest

from services.contractors.domain.scorecards import (
    METRICS,
    Metric,
    MetricScore,
    Period,
    Scorecard,
)
from services.contractors.domain.standing import (
    ManualOverride,
    OverrideNeedsSecondApprover,
    StandingReason,
    Status,
    decide_standing,
    load_standing_rules,
)
from shared.domain_errors import PermissionDenied

BOOK = load_standing_rules()
RULES = BOOK.for_period(Period(2026, 6))
START = Period(2026, 1)


def card(score, period, inspections=(0, 0)):
    passed, total = inspections
    metrics = tuple(
        MetricScore(m, 0, 0, None, 0.5, 0.5, 0.4, 0.6, 2, 1.0)
        if m is not Metric.INSPECTION_FIRST_PASS
        else MetricScore(
            m, passed, total, passed / total if total else None, 0.9, 0.9, 0.8, 1.0, 2, 0.5
        )
        for m in METRICS
    )
    return Scorecard("A", "zz", period, "w", 1, metrics, score, 1, 1, 100.0)


def run(scores, overrides=(), inspections=None):
    history = []
    for i, s in enumerate(scores):
        p = Period.from_index(START.index + i)
        insp = inspections[i] if inspections else (0, 0)
        c = None if s is None else card(s, p, insp)
        history.append(decide_standing("A", history, c, BOOK, overrides, p))
    return history


def test_reason_codes_are_frozen():
    assert [r.value for r in StandingReason] == [
        "NEW_CONTRACTOR",
        "NO_SCORECARD",
        "SCORE_ABOVE_WHITE_ENTRY",
        "SCORE_BELOW_WHITE_EXIT",
        "SCORE_BELOW_BLACK_ENTRY",
        "SCORE_ABOVE_BLACK_EXIT",
        "SCORE_WITHIN_BAND",
        "MIN_TIME_IN_STATE",
        "INSPECTION_PASS_RATE_BELOW_70",
        "INSPECTION_PASS_RATE_BELOW_60",
        "MANUAL_OVERRIDE",
    ]
    assert [s.value for s in Status] == ["white", "grey", "black"]


def test_new_contractor_starts_grey_and_waits_the_minimum_time():
    h = run([90, 90, 90, 90])
    assert [d.status for d in h] == [Status.GREY] * 3 + [Status.WHITE]
    assert [d.reason_code for d in h] == [StandingReason.MIN_TIME_IN_STATE] * 3 + [
        StandingReason.SCORE_ABOVE_WHITE_ENTRY
    ]
    assert h[3].since == Period(2026, 4)
    assert "80.0" in h[3].explanation_en and "白名单" in h[3].explanation_zh


def test_oscillating_around_the_white_entry_does_not_flap():
    # white from month 4, then wobbling around 80 (entry) but above 72 (exit)
    h = run([90, 90, 90, 90] + [79, 81, 78, 82, 76, 80, 73, 85] * 2)
    assert all(d.status is Status.WHITE for d in h[3:])
    assert {d.since for d in h[3:]} == {Period(2026, 4)}


def test_oscillating_around_the_white_exit_changes_at_most_once_per_min_time():
    h = run([90] * 4 + [71, 74] * 10)
    statuses = [d.status for d in h]
    changes = [i for i in range(1, len(h)) if statuses[i] != statuses[i - 1]]
    assert all(b - a >= RULES.min_months_in_state for a, b in itertools.pairwise(changes))
    # leaves white once below 72, and 74 is not enough to re-enter at 80
    assert statuses[-1] is Status.GREY and len(changes) == 2


def test_black_entry_and_exit_with_hysteresis():
    h = run([60, 60, 60, 40, 50, 54, 50, 56, 56, 90])
    assert [d.status for d in h] == [Status.GREY] * 3 + [Status.BLACK] * 4 + [
        Status.GREY,
        Status.GREY,
        Status.GREY,
    ]
    assert h[3].reason_code is StandingReason.SCORE_BELOW_BLACK_ENTRY
    assert h[7].reason_code is StandingReason.SCORE_ABOVE_BLACK_EXIT
    assert h[9].reason_code is StandingReason.MIN_TIME_IN_STATE


def test_no_scorecard_keeps_the_status():
    h = run([90, 90, 90, 90, None])
    assert h[-1].status is Status.WHITE and h[-1].reason_code is StandingReason.NO_SCORECARD


def test_inspection_below_60_blacklists_at_once():
    h = run([90] * 5, inspections=[(5, 5)] * 4 + [(5, 10)])
    assert h[-1].status is Status.BLACK
    assert h[-1].reason_code is StandingReason.INSPECTION_PASS_RATE_BELOW_60
    assert "50%" in h[-1].explanation_en


def test_inspection_below_70_is_a_bad_record_that_blocks_white():
    h = run([90] * 5, inspections=[(5, 5)] * 4 + [(13, 20)])
    assert [d.status for d in h[3:]] == [Status.WHITE, Status.GREY]
    assert h[-1].reason_code is StandingReason.INSPECTION_PASS_RATE_BELOW_70
    h = run([90] * 4, inspections=[(2, 3)] * 4)  # 67 %: never white
    assert h[-1].status is Status.GREY
    assert h[-1].reason_code is StandingReason.INSPECTION_PASS_RATE_BELOW_70


def test_too_few_inspections_are_not_a_rate():
    h = run([90] * 4, inspections=[(0, 1)] * 4)
    assert h[-1].status is Status.WHITE


def test_override_needs_two_different_people():
    with pytest.raises(OverrideNeedsSecondApprover) as err:
        ManualOverride("A", Status.BLACK, "fraud found", "li", " LI ", START)
    assert isinstance(err.value, PermissionDenied)
    assert err.value.code == "OVERRIDE_NEEDS_SECOND_APPROVER"


def test_override_wins_and_names_both_people():
    o = ManualOverride(
        "A", Status.BLACK, "forged evidence photos", "li", "wang", Period(2026, 2), Period(2026, 3)
    )
    h = run([90] * 6, overrides=[o])
    g, b = Status.GREY, Status.BLACK
    assert [d.status for d in h] == [g, b, b, b, g, g]
    assert h[4].reason_code is StandingReason.SCORE_ABOVE_BLACK_EXIT
    assert h[1].reason_code is StandingReason.MANUAL_OVERRIDE
    assert "forged evidence photos" in h[1].explanation_en and "wang" in h[1].explanation_zh
    # after the override the black status must still serve its minimum time
    assert h[3].reason_code is StandingReason.MIN_TIME_IN_STATE


def test_rules_are_versioned_by_month():
    text = """
[[version]]
version = "a"
effective_from = "2026-01"
white_entry = 80.0
white_exit = 72.0
black_entry = 45.0
black_exit = 55.0
min_months_in_state = 3
inspection_bad_record_below = 0.70
inspection_blacklist_below = 0.60
inspection_min_count = 3
"""
    second = text.replace('"a"', '"b"').replace("2026-01", "2026-07").replace("80.0", "85.0")
    book = load_standing_rules(text + second)
    assert book.for_period(Period(2026, 6)).version == "a"
    assert book.for_period(Period(2026, 7)).white_entry == 85.0
    with pytest.raises(ValueError):
        load_standing_rules(text.replace("72.0", "90.0"))
    d = decide_standing("A", [], card(50, Period(2026, 8)), book, [], Period(2026, 8))
    assert d.rules_version == "b"
    assert dataclasses.is_dataclass(d)
