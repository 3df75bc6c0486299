from decimal import Decimal

import pytest

from services.policy.domain.errors import InvalidValue
from services.policy.domain.flats import parse_area
from services.policy.domain.registry import positive_decimal


@pytest.mark.parametrize("text", ["1E100", "1e6000", "100000.01"])
def test_huge_areas_are_invalid_values_not_crashes(text: str) -> None:
    with pytest.raises(InvalidValue):
        parse_area(text)


def test_huge_registry_figures_are_invalid_values_not_crashes() -> None:
    with pytest.raises(InvalidValue, match="implausibly large"):
        positive_decimal("1E100", field="spec.rope_length_m")
    assert positive_decimal("62.50", field="x") == Decimal("62.50")
