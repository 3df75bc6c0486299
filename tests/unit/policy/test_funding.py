from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.policy.domain.errors import InvalidValue, NoFlatsToCharge
from services.policy.domain.flats import Flat
from services.policy.domain.funding import FundingLine, plan_funding


def flat(flat_id: str, area: str, owner: str | None = None) -> Flat:
    return Flat(flat_id, owner or f"owner-{flat_id}", Decimal(area))


def test_appreciation_first_then_accounts_then_cash():
    flats = [flat("101", "100.00"), flat("102", "50.00"), flat("201", "50.00")]
    plan = plan_funding(
        premium_fen=130_000,
        appreciation_balance_fen=30_000,
        flats=flats,
        account_balances={"101": 100_000, "102": 20_000},  # 201 has no account
    )
    assert plan.from_appreciation_fen == 30_000
    assert plan.lines == (
        FundingLine("101", "owner-101", 50_000, 50_000, 0),
        FundingLine("102", "owner-102", 25_000, 20_000, 5_000),
        FundingLine("201", "owner-201", 25_000, 0, 25_000),
    )
    assert (plan.from_accounts_fen, plan.billed_cash_fen) == (70_000, 30_000)


def test_appreciation_income_that_suffices_charges_nobody():
    plan = plan_funding(
        premium_fen=130_000,
        appreciation_balance_fen=1_000_000,
        flats=[flat("101", "88.50")],
        account_balances={},
    )
    assert plan.from_appreciation_fen == 130_000
    assert plan.lines == (FundingLine("101", "owner-101", 0, 0, 0),)


def test_odd_fen_go_to_the_largest_remainders():
    # 100 fen over three equal flats: 34 + 33 + 33, the extra fen to the first by flat id.
    plan = plan_funding(
        premium_fen=100,
        appreciation_balance_fen=0,
        flats=[flat("c", "1"), flat("a", "1"), flat("b", "1")],
        account_balances={},
    )
    assert [(line.flat_id, line.share_fen) for line in plan.lines] == [
        ("a", 34),
        ("b", 33),
        ("c", 33),
    ]


def test_shortfall_without_flats_is_refused():
    with pytest.raises(NoFlatsToCharge):
        plan_funding(premium_fen=100, appreciation_balance_fen=99, flats=[], account_balances={})
    assert (
        plan_funding(
            premium_fen=100, appreciation_balance_fen=100, flats=[], account_balances={}
        ).lines
        == ()
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"premium_fen": 0}, "premium_fen"),
        ({"appreciation_balance_fen": -1}, "appreciation_balance_fen"),
        ({"account_balances": {"101": -5}}, "account_balances"),
        ({"flats": [flat("101", "1"), flat("101", "2")]}, "flats"),
    ],
)
def test_invalid_inputs(kwargs, field):
    arguments = {
        "premium_fen": 100,
        "appreciation_balance_fen": 0,
        "flats": [flat("101", "1")],
        "account_balances": {},
    } | kwargs
    with pytest.raises(InvalidValue) as caught:
        plan_funding(**arguments)
    assert caught.value.field == field


# ------------------------------------------------------------------ properties

areas = st.decimals(min_value=Decimal("0.01"), max_value=Decimal("999.99"), places=2)
balances = st.none() | st.integers(0, 200_000)


@st.composite
def funding_cases(draw):
    count = draw(st.integers(1, 40))
    flats = [Flat(f"f{i:02d}", f"o{draw(st.integers(0, 9))}", draw(areas)) for i in range(count)]
    accounts = {}
    for f in flats:
        balance = draw(balances)
        if balance is not None:
            accounts[f.flat_id] = balance
    return (
        draw(st.integers(1, 5_000_000)),
        draw(st.integers(0, 6_000_000)),
        flats,
        accounts,
    )


@given(funding_cases())
def test_every_fen_adds_up(case):
    premium, appreciation, flats, accounts = case
    plan = plan_funding(
        premium_fen=premium,
        appreciation_balance_fen=appreciation,
        flats=flats,
        account_balances=accounts,
    )
    assert plan.from_appreciation_fen == min(premium, appreciation)
    assert plan.from_appreciation_fen + sum(line.share_fen for line in plan.lines) == premium
    assert len(plan.lines) == len(flats)
    for line in plan.lines:
        assert line.share_fen == line.from_account_fen + line.billed_cash_fen
        assert 0 <= line.from_account_fen <= accounts.get(line.flat_id, 0)
        assert line.billed_cash_fen >= 0
        # An account is used as far as it goes before anything is billed in cash.
        assert line.billed_cash_fen == 0 or line.from_account_fen == accounts.get(line.flat_id, 0)


@given(funding_cases())
def test_shares_are_proportional_to_area_within_one_fen(case):
    premium, appreciation, flats, accounts = case
    plan = plan_funding(
        premium_fen=premium,
        appreciation_balance_fen=appreciation,
        flats=flats,
        account_balances=accounts,
    )
    total_area = sum((f.area for f in flats), Decimal(0))
    area_of = {f.flat_id: f.area for f in flats}
    for line in plan.lines:
        exact = plan.shortfall_fen * Fraction(area_of[line.flat_id]) / Fraction(total_area)
        assert abs(line.share_fen - exact) < 1


@given(funding_cases(), st.randoms())
def test_plan_does_not_depend_on_the_order_of_flats(case, random):
    premium, appreciation, flats, accounts = case
    shuffled = list(flats)
    random.shuffle(shuffled)
    kwargs = {"premium_fen": premium, "appreciation_balance_fen": appreciation}
    assert plan_funding(flats=flats, account_balances=accounts, **kwargs) == plan_funding(
        flats=shuffled, account_balances=accounts, **kwargs
    )
