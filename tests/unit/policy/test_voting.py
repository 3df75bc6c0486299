from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.policy.domain.errors import (
    EmptyElectorate,
    InvalidRuleSet,
    InvalidValue,
    NotInElectorate,
    UnknownRuleSet,
)
from services.policy.domain.flats import Flat, parse_area
from services.policy.domain.voting import (
    Ballot,
    Basis,
    Comparison,
    RuleSet,
    Threshold,
    decide_vote,
    four_places,
    load_default_rule_sets,
    parse_rule_sets,
    select_rule_set,
)

RULES = load_default_rule_sets()
CIVIL = RULES["civil_code_2021_art278@1"]
MAJOR = RULES["civil_code_2021_art278_major@1"]
PROPERTY_LAW = RULES["property_law_2007@1"]

A, D, X = Ballot.AGREE, Ballot.DISAGREE, Ballot.ABSTAIN


def electorate(*areas: str) -> list[Flat]:
    """One flat per owner: owner o1 holds flat f1 with the first area, and so on."""
    return [Flat(f"f{i}", f"o{i}", Decimal(a)) for i, a in enumerate(areas, 1)]


def ballots(*choices: Ballot) -> dict[str, Ballot]:
    return {f"o{i}": c for i, c in enumerate(choices, 1)}


class TestDefaultRuleSets:
    def test_shipped_rule_sets(self):
        assert set(RULES) == {
            "civil_code_2021_art278@1",
            "civil_code_2021_art278_major@1",
            "property_law_2007@1",
        }
        assert CIVIL.turnout_area == Threshold(Fraction(2, 3), Comparison.AT_LEAST)
        assert CIVIL.agree_area == Threshold(Fraction(1, 2), Comparison.MORE_THAN)
        assert CIVIL.agree_basis is Basis.PARTICIPATING
        assert MAJOR.agree_headcount == Threshold(Fraction(3, 4), Comparison.AT_LEAST)
        assert PROPERTY_LAW.turnout_area is None and PROPERTY_LAW.agree_basis is Basis.ALL

    def test_select_latest_version_numerically(self):
        text = "\n".join(
            f"""
            [[rule_set]]
            name = "r"
            version = "{v}"
            description = "v{v}"
            agree_basis = "all"
            agree = {{ area = "> 1/2", headcount = "> 1/2" }}
            """
            for v in ("1", "10", "2")
        )
        rule_sets = parse_rule_sets(text)
        assert select_rule_set(rule_sets, "r").version == "10"
        assert select_rule_set(rule_sets, "r", "2").description == "v2"
        with pytest.raises(UnknownRuleSet):
            select_rule_set(rule_sets, "r", "3")
        with pytest.raises(UnknownRuleSet):
            select_rule_set(rule_sets, "nope")


class TestCivilCode:
    def test_exactly_two_thirds_turnout_passes(self):
        outcome = decide_vote(CIVIL, electorate("100", "100", "100"), ballots(A, A))
        assert outcome.turnout_area == Fraction(2, 3)
        assert outcome.turnout_headcount == Fraction(2, 3)
        assert outcome.passed

    def test_one_hundredth_of_a_square_metre_short_fails(self):
        outcome = decide_vote(CIVIL, electorate("100.00", "99.99", "100.00"), ballots(A, A))
        assert outcome.turnout_area == Fraction(19999, 29999)
        assert not outcome.passed
        assert [c.met for c in outcome.checks] == [False, True, True, True]
        assert outcome.explanation[0] == "turnout 0.6666 of area < 2/3 ✗"

    def test_one_owner_short_fails_on_headcount(self):
        # Four of six owners would be 2/3; three are not, though they hold most of the area.
        flats = electorate("300", "300", "300", "10", "10", "10")
        outcome = decide_vote(CIVIL, flats, ballots(A, A, A))
        assert outcome.turnout_area > Fraction(2, 3)
        assert outcome.turnout_headcount == Fraction(1, 2)
        assert not outcome.passed
        assert "turnout 0.5000 of headcount < 2/3 ✗" in outcome.explanation

    def test_agree_exactly_half_is_not_more_than_half(self):
        outcome = decide_vote(CIVIL, electorate("1", "1", "1", "1"), ballots(A, A, D, D))
        assert not outcome.passed
        assert "agree 0.5000 of participating headcount ≤ 1/2 ✗" in outcome.explanation
        assert "agree 0.5000 of participating area ≤ 1/2 ✗" in outcome.explanation

    def test_abstaining_counts_for_turnout_but_not_for_agreeing(self):
        outcome = decide_vote(CIVIL, electorate("1", "1", "1"), ballots(A, X, X))
        assert outcome.turnout_headcount == 1
        assert outcome.agree_headcount == Fraction(1, 3)
        assert not outcome.passed

    def test_owner_of_several_flats_counts_once_with_all_their_area(self):
        flats = [
            Flat("101", "li", Decimal("80.00")),
            Flat("102", "li", Decimal("90.50")),
            Flat("201", "wang", Decimal("85.25")),
        ]
        outcome = decide_vote(CIVIL, flats, {"li": A, "wang": D})
        assert outcome.tally.electorate_headcount == 2
        assert outcome.tally.electorate_area == Decimal("255.75")
        assert outcome.tally.agree_area == Decimal("170.50")
        assert outcome.agree_headcount == Fraction(1, 2)
        assert not outcome.passed  # headcount 1 of 2 is not more than half

    def test_explanation_in_plain_words_with_four_decimals(self):
        outcome = decide_vote(CIVIL, electorate("70.12", "29.88"), ballots(A))
        assert outcome.explanation == (
            "turnout 0.7012 of area ≥ 2/3 ✓",
            "turnout 0.5000 of headcount < 2/3 ✗",
            "agree 1.0000 of participating area > 1/2 ✓",
            "agree 1.0000 of participating headcount > 1/2 ✓",
            "failed under civil_code_2021_art278@1: 1 of 4 conditions not met",
        )

    def test_figures_are_rounded_away_from_the_threshold(self):
        # 10001/20000 = 0.50005 would round to a puzzling "0.5000 > 1/2".
        outcome = decide_vote(CIVIL, electorate("100.01", "99.99"), ballots(A, D))
        assert "agree 0.5001 of participating area > 1/2 ✓" in outcome.explanation
        exactly = decide_vote(CIVIL, electorate("1", "1", "1"), ballots(A, A))
        assert exactly.explanation[0] == "turnout 0.6667 of area ≥ 2/3 ✓"

    def test_nobody_voting_fails_without_dividing_by_zero(self):
        outcome = decide_vote(CIVIL, electorate("50", "60"), {})
        assert outcome.agree_area == 0 and not outcome.passed


class TestOtherRuleSets:
    def test_major_needs_three_quarters_inclusive(self):
        flats = electorate("1", "1", "1", "1")
        assert decide_vote(MAJOR, flats, ballots(A, A, A, D)).passed
        assert not decide_vote(MAJOR, flats, ballots(A, A, D, D)).passed

    def test_property_law_counts_non_voters_against(self):
        flats = electorate("1", "1", "1")
        outcome = decide_vote(PROPERTY_LAW, flats, ballots(A, A))
        assert outcome.passed  # 2/3 of all, inclusive
        assert outcome.explanation[0] == "agree 0.6667 of all area ≥ 2/3 ✓"
        assert not decide_vote(PROPERTY_LAW, electorate("1", "1", "1", "1"), ballots(A, A)).passed


class TestElectorate:
    def test_zero_electorate(self):
        with pytest.raises(EmptyElectorate) as caught:
            decide_vote(CIVIL, [], {})
        assert caught.value.code == "EMPTY_ELECTORATE"

    def test_ballot_from_outside_the_electorate(self):
        with pytest.raises(NotInElectorate) as caught:
            decide_vote(CIVIL, electorate("1"), {"o1": A, "stranger": A})
        assert caught.value.owner_id == "stranger"
        assert caught.value.field == "ballots"

    def test_flat_listed_twice(self):
        with pytest.raises(InvalidValue):
            decide_vote(CIVIL, electorate("1") * 2, {})

    @pytest.mark.parametrize("area", ["0", "-1", "12.345", "NaN", "Infinity"])
    def test_invalid_area(self, area):
        with pytest.raises(InvalidValue):
            Flat("f", "o", Decimal(area))

    def test_area_from_text(self):
        assert parse_area(" 95.37 ") == Decimal("95.37")
        assert parse_area("95.370") == Decimal("95.37")
        with pytest.raises(InvalidValue, match="decimal number") as caught:
            parse_area("95,37", field="flats[3].floor_area_m2")
        assert caught.value.field == "flats[3].floor_area_m2"
        with pytest.raises(InvalidValue, match="must be a Decimal"):
            Flat("f", "o", 95.37)  # type: ignore[arg-type]


def test_four_places_rounds_half_to_even_without_a_threshold():
    assert four_places(Fraction(1, 3)) == "0.3333"
    assert four_places(Fraction(2, 3)) == "0.6667"
    assert four_places(Fraction(5, 100_000)) == "0.0000"
    assert four_places(Fraction(1)) == "1.0000"


class TestRuleSetDocuments:
    GOOD = """
    [[rule_set]]
    name = "x"
    version = "1"
    description = "x"
    agree_basis = "participating"
    turnout = { area = ">= 2/3" }
    agree = { area = "> 1/2", headcount = "≥ 1/2" }
    """

    def test_turnout_may_name_one_measure(self):
        rule_set = parse_rule_sets(self.GOOD)["x@1"]
        assert rule_set.turnout_headcount is None
        assert rule_set.agree_headcount.comparison is Comparison.AT_LEAST

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            (('"> 1/2"', '"about half"'), "rule_set[0].agree.area"),
            (('"> 1/2"', '"> 3/2"'), "rule_set[0].agree.area"),
            (('"> 1/2"', '"> 1/0"'), "rule_set[0].agree.area"),
            (('headcount = "≥ 1/2"', 'heads = "≥ 1/2"'), "rule_set[0].agree"),
            (('"participating"', '"most"'), "rule_set[0].agree_basis"),
            (('version = "1"', 'version = "v1"'), "rule_set[0].version"),
            (('version = "1"', "version = 1"), "rule_set[0].version"),
            (("turnout", "turnut"), "rule_set[0]"),
        ],
    )
    def test_mistakes_are_reported_with_their_place(self, change, field):
        with pytest.raises(InvalidRuleSet) as caught:
            parse_rule_sets(self.GOOD.replace(*change))
        assert caught.value.field == field

    def test_duplicate_and_broken_documents(self):
        with pytest.raises(InvalidRuleSet, match="defined twice"):
            parse_rule_sets(self.GOOD * 2)
        with pytest.raises(InvalidRuleSet, match="not valid TOML"):
            parse_rule_sets("[[rule_set]\n")
        with pytest.raises(InvalidRuleSet, match="non-empty array"):
            parse_rule_sets("")

    def test_rule_set_names_are_snake_case(self):
        half = Threshold(Fraction(1, 2), Comparison.MORE_THAN)
        with pytest.raises(InvalidRuleSet):
            RuleSet("Civil Code", "1", "", Basis.ALL, half, half)


# ------------------------------------------------------------------ monotonicity

areas = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("500"), places=2)
choices = st.sampled_from(list(Ballot))


@st.composite
def votes(draw):
    """A random electorate (owners may hold several flats) and random ballots."""
    owner_count = draw(st.integers(1, 8))
    flat_owners = draw(st.lists(st.integers(0, owner_count - 1), min_size=1, max_size=14))
    flats = [Flat(f"f{i}", f"o{o}", draw(areas)) for i, o in enumerate(flat_owners)]
    owners = sorted({f.owner_id for f in flats})
    cast = {o: draw(choices) for o in owners}
    return flats, cast


@given(votes(), st.sampled_from(sorted(RULES)), st.data())
def test_more_agreement_never_turns_a_pass_into_a_fail(vote, rule_key, data):
    flats, cast = vote
    rule_set = RULES[rule_key]
    switchable = [o for o, c in cast.items() if c in (Ballot.DISAGREE, Ballot.NOT_VOTED)]
    if not switchable:
        return
    owner = data.draw(st.sampled_from(switchable))
    before = decide_vote(rule_set, flats, cast)
    after = decide_vote(rule_set, flats, {**cast, owner: Ballot.AGREE})
    assert after.agree_area >= before.agree_area
    assert after.agree_headcount >= before.agree_headcount
    if before.passed:
        assert after.passed


@given(votes(), st.randoms())
def test_order_of_flats_does_not_matter(vote, random):
    flats, cast = vote
    shuffled = list(flats)
    random.shuffle(shuffled)
    assert decide_vote(CIVIL, flats, cast) == decide_vote(CIVIL, shuffled, cast)
