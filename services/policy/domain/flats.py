"""Flats (专有部分) served by an elevator: who owns them and their registered floor area.

Floor areas are ``Decimal`` square metres with at most two decimal places, as the real-estate
register records them; they weigh both the vote and the premium shares, so they are exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from services.policy.domain.errors import InvalidValue

_CENTI = Decimal("0.01")
_MAX_AREA = Decimal(100_000)  # no flat is larger than a hectare


def validate_area(area: Decimal, *, field: str = "floor_area_m2") -> Decimal:
    """Return ``area`` if it is a finite positive ``Decimal`` with at most two decimals."""
    if not isinstance(area, Decimal):
        # A float would carry binary noise into the tallies; refuse it at the door.
        raise InvalidValue(field, f"floor area must be a Decimal, got {type(area).__name__}")
    if not area.is_finite() or area <= 0:
        raise InvalidValue(field, f"floor area must be greater than 0 m², got {area}")
    if area > _MAX_AREA:  # also keeps a huge exponent away from quantize()
        raise InvalidValue(field, f"floor area must be at most {_MAX_AREA} m², got {area}")
    if area != area.quantize(_CENTI):
        raise InvalidValue(field, f"floor area must have at most 2 decimal places, got {area}")
    return area


def parse_area(text: str, *, field: str = "floor_area_m2") -> Decimal:
    """A floor area from its decimal string form ("95.37"), validated."""
    try:
        area = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidValue(field, f"floor area must be a decimal number, got {text!r}") from None
    return validate_area(area, field=field)


@dataclass(frozen=True)
class Flat:
    """One flat. Co-owners of a flat are represented by one ``owner_id`` (they cast one vote)."""

    flat_id: str
    owner_id: str
    area: Decimal

    def __post_init__(self) -> None:
        if not self.flat_id:
            raise InvalidValue("flat_id", "flat id must not be empty")
        if not self.owner_id:
            raise InvalidValue("owner_id", f"flat {self.flat_id!r} has no owner id")
        validate_area(self.area)


def require_distinct(flats: Iterable[Flat]) -> None:
    """Refuse a list that names a flat twice: it would count its area and owner twice."""
    seen: set[str] = set()
    for flat in flats:
        if flat.flat_id in seen:
            raise InvalidValue("flats", f"flat {flat.flat_id!r} is listed twice")
        seen.add(flat.flat_id)
