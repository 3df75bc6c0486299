"""The community pages' pure helpers: masking, fractions, explanations, allocation sums."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from services.policy.domain.flats import Flat
from services.policy.domain.voting import Ballot, decide_vote, load_default_rule_sets
from services.web.domain.communities import (
    Check,
    Ratio,
    Verdict,
    allocation,
    inspection_state,
    mask_id,
    natural_key,
    parse_explanation,
    parse_ratio,
)
from services.web.domain.i18n import Catalogues


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("owner-8f2a91c3d4", "****c3d4"),
        ("own_1a2b3c4d5e6f", "****5e6f"),
        ("43020219800101123X", "****123X"),
        ("abcde", "****bcde"),
        ("abcd", "****"),
        ("ab", "**"),
        ("", ""),
    ],
)
def test_an_id_shows_its_last_four_characters_at_most(value: str, shown: str) -> None:
    assert mask_id(value) == shown


@pytest.mark.parametrize(
    ("text", "ratio"),
    [
        ("2/3 (0.6667)", Ratio("2/3", "0.6667")),
        ("1 (1.0000)", Ratio("1", "1.0000")),
        ("0 (0.0000)", Ratio("0", "0.0000")),
        ("19999/29999 (0.6667)", Ratio("19999/29999", "0.6667")),
        ("2/3", Ratio("2/3", "")),  # not the service's form: shown whole, never dropped
        ("", Ratio("", "")),
    ],
)
def test_a_tally_fraction_is_split_into_exact_and_four_places(text: str, ratio: Ratio) -> None:
    assert parse_ratio(text) == ratio


RULES = load_default_rule_sets()


def _explanation(rule_set: str, areas: list[str], choices: list[Ballot]) -> tuple[str, ...]:
    flats = [Flat(f"f{i}", f"o{i}", Decimal(a)) for i, a in enumerate(areas)]
    ballots = {f"o{i}": c for i, c in enumerate(choices) if c is not Ballot.NOT_VOTED}
    return decide_vote(RULES[rule_set], flats, ballots).explanation


def test_every_line_the_policy_service_writes_is_understood() -> None:
    """The parser against the service's own words, for each rule set, passed and failed."""
    A, D, N = Ballot.AGREE, Ballot.DISAGREE, Ballot.NOT_VOTED
    cases = [
        ("civil_code_2021_art278@1", ["90", "110", "100"], [A, A, N]),
        ("civil_code_2021_art278@1", ["90", "110", "100"], [A, N, N]),
        ("civil_code_2021_art278_major@1", ["90", "110", "100", "80"], [A, A, D, A]),
        ("property_law_2007@1", ["90", "110", "100"], [A, A, D]),
        ("property_law_2007@1", ["90", "110", "100"], [N, N, N]),
    ]
    for rule_set, areas, choices in cases:
        lines = _explanation(rule_set, areas, choices)
        parsed = [parse_explanation(line) for line in lines]
        assert all(p is not None for p in parsed), lines
        *checks, verdict = parsed
        assert all(isinstance(c, Check) for c in checks)
        assert isinstance(verdict, Verdict)
        assert verdict.rule_set == rule_set
        assert verdict.conditions == len(checks)
        assert verdict.unmet == sum(not c.met for c in checks)  # type: ignore[union-attr]
        assert verdict.passed == (verdict.unmet == 0)


def test_a_check_line_is_taken_apart() -> None:
    assert parse_explanation("turnout 0.6667 of area ≥ 2/3 ✓") == Check(
        "turnout.area", "0.6667", "≥", "2/3", True
    )
    assert parse_explanation("agree 0.4988 of participating headcount ≤ 1/2 ✗") == Check(
        "agree.participating.headcount", "0.4988", "≤", "1/2", False
    )
    assert parse_explanation("failed under property_law_2007@1: 2 of 2 conditions not met") == (
        Verdict(False, "property_law_2007@1", 2, 2)
    )


@pytest.mark.parametrize(
    "line",
    [
        "turnout 0.6667 of participating area ≥ 2/3 ✓",  # turnout has no basis
        "agree 0.6667 of area > 1/2 ✓",  # agree always names one
        "quorum reached",
        "",
    ],
)
def test_a_line_in_another_form_is_left_as_it_came(line: str) -> None:
    assert parse_explanation(line) is None


def test_every_measure_a_check_can_name_has_words_in_every_language() -> None:
    catalogues = Catalogues()
    measures = {
        "turnout.area",
        "turnout.headcount",
        *(f"agree.{b}.{m}" for b in ("participating", "all") for m in ("area", "headcount")),
    }
    for locale in ("zh-CN", "en"):
        keys = catalogues.keys(locale)
        assert {f"community.measure.{m}" for m in measures} <= keys


def test_an_allocation_adds_up_only_when_every_fen_is_accounted_for() -> None:
    lines = [(30_000, 30_000, 0), (36_667, 1_000, 35_667), (33_333, 0, 33_333)]
    total = allocation(130_000, 30_000, lines)
    assert (total.shares_fen, total.from_accounts_fen, total.billed_cash_fen) == (
        100_000,
        31_000,
        69_000,
    )
    assert total.adds_up
    assert not allocation(130_000, 30_001, lines).adds_up  # one fen too many
    assert not allocation(130_000, 30_000, [*lines[:2], (33_333, 0, 33_332)]).adds_up
    assert allocation(130_000, 130_000, []).adds_up  # appreciation income paid it all


def test_an_inspection_is_valid_up_to_its_due_date() -> None:
    today = date(2026, 6, 1)
    assert inspection_state("2026-06-01", "passed", today) == "valid"
    assert inspection_state("2026-05-31", "passed", today) == "lapsed"
    assert inspection_state("2027-01-01", "failed", today) == "failed"
    assert inspection_state("", "", today) == "unknown"
    assert inspection_state("not a date", "passed", today) == "unknown"


def test_buildings_units_and_flats_sort_as_people_count() -> None:
    places = [("10", "1", "101"), ("2", "1", "1201"), ("2", "1", "301"), ("A座", "1", "101")]
    assert sorted(places, key=lambda p: natural_key(*p)) == [
        ("2", "1", "301"),
        ("2", "1", "1201"),
        ("10", "1", "101"),
        ("A座", "1", "101"),
    ]
