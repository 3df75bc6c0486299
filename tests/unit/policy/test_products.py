import pytest

from services.policy.domain.errors import InvalidProduct, InvalidValue, UnknownProduct
from services.policy.domain.products import (
    Peril,
    find_product,
    load_default_products,
    parse_peril,
    parse_products,
)
from shared.money import yuan

from .factories import product

GOOD = """
[[product]]
code = "P"
name = "p"
annual_premium_fen = 100
sum_insured_fen = 10_000
per_claim_limit_fen = 5_000
deductible_fen = 0
covered_perils = ["fire"]
exclusions = ["flood"]
"""


def test_demo_product_matches_the_tianjin_pilot():
    demo = find_product(load_default_products(), "ELEV-REPAIR-STD")
    assert demo.annual_premium_fen == yuan(1300)
    assert demo.sum_insured_fen == yuan(150_000)
    # Zero cost sharing: no deductible, and a 39,800 CNY traction machine fits one claim.
    assert demo.deductible_fen == 0
    assert demo.per_claim_limit_fen >= yuan(39_800)
    assert Peril.TRAPPED_PASSENGER in demo.covered_perils
    assert Peril.IMPROPER_MAINTENANCE in demo.exclusions


def test_unknown_product():
    with pytest.raises(UnknownProduct) as caught:
        find_product(load_default_products(), "NOPE")
    assert caught.value.field == "product_code"


def test_peril_codes_are_stable():
    assert [p.value for p in Peril] == [
        "mechanical_failure",
        "electrical_failure",
        "door_system",
        "trapped_passenger",
        "wear_and_tear",
        "vandalism",
        "flood",
        "fire",
        "improper_maintenance",
    ]
    assert parse_peril(" fire ") is Peril.FIRE
    with pytest.raises(InvalidValue, match="unknown peril 'earthquake'"):
        parse_peril("earthquake")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("annual_premium_fen = 100", "annual_premium_fen = 100.0"), "integer number of fen"),
        (("annual_premium_fen = 100", "annual_premium_fen = true"), "integer number of fen"),
        (("annual_premium_fen = 100", "annual_premium_fen = 0"), "must be positive"),
        (("per_claim_limit_fen = 5_000", "per_claim_limit_fen = 20_000"), "must not exceed"),
        (("deductible_fen = 0", "deductible_fen = 5_000"), "below per_claim_limit_fen"),
        (('exclusions = ["flood"]', 'exclusions = ["fire"]'), "both covered and excluded"),
        (('covered_perils = ["fire"]', 'covered_perils = ["meteor"]'), "unknown peril"),
        (('covered_perils = ["fire"]', "covered_perils = []"), "covers no peril"),
        (('code = "P"', 'code = "P Q"'), "product code"),
        (('name = "p"\n', ""), "missing keys ['name']"),
    ],
)
def test_invalid_products_are_refused(change, message):
    with pytest.raises(InvalidProduct, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_products(GOOD.replace(*change))


def test_duplicate_codes_are_refused():
    with pytest.raises(InvalidProduct, match="defined twice"):
        parse_products(GOOD * 2)


class TestPayable:
    def test_deductible_then_per_claim_limit_then_remaining(self):
        p = product(deductible_fen=50_000, per_claim_limit_fen=1_000_000)
        assert p.payable_fen(1_200_000, remaining_fen=15_000_000) == 1_000_000
        assert p.payable_fen(300_000, remaining_fen=15_000_000) == 250_000
        assert p.payable_fen(300_000, remaining_fen=100_000) == 100_000
        assert p.payable_fen(40_000, remaining_fen=100_000) == 0

    def test_negative_amounts_are_refused(self):
        with pytest.raises(InvalidValue):
            product().payable_fen(-1, remaining_fen=0)
