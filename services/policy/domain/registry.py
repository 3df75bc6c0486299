"""The insured world as the registry knows it: communities, flats, elevators.

Plain records plus the checks a new entry must pass; codes are validated by ``codes``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from services.policy.domain.codes import normalise_registration_code, validate_equipment_code
from services.policy.domain.errors import InvalidFields, InvalidInput, InvalidValue
from services.policy.domain.flats import Flat, validate_area
from services.policy.domain.inspections import InspectionFacts

T = TypeVar("T")

_REGION = re.compile(r"[1-8]\d{5}")


def validate_region_code(code: str, *, field: str = "region_code") -> str:
    """A GB/T 2260 county-level code: six digits, the first naming a region of China (1–8)."""
    if not _REGION.fullmatch(code):
        raise InvalidValue(field, f"region code must be 6 digits (GB/T 2260), got {code!r}")
    return code


@dataclass(frozen=True)
class Community:
    community_id: str
    region_code: str
    name: str
    appreciation_balance_fen: int


@dataclass(frozen=True)
class FlatRecord:
    flat_id: str
    community_id: str
    building: str
    unit: str
    number: str
    area: Decimal
    owner_id: str
    owner_name: str
    fund_balance_fen: int | None  # None: the flat has no personal fund account

    def as_flat(self) -> Flat:
        return Flat(flat_id=self.flat_id, owner_id=self.owner_id, area=self.area)


@dataclass(frozen=True)
class ElevatorSpec:
    registration_code: str
    equipment_code: str
    brand: str
    landings: int
    rope_count: int
    rope_length_m: Decimal
    motor_kw: Decimal
    installed_on: date | None


@dataclass(frozen=True)
class Elevator:
    elevator_id: str
    community_id: str
    region_code: str
    building: str
    unit: str
    spec: ElevatorSpec
    inspection: InspectionFacts | None
    served_flat_ids: tuple[str, ...]
    current_policy_id: str | None = None


# Registry figures (rope metres, motor kW) are far below this; anything above is a typo, and
# a huge exponent ("1E100") must not reach arithmetic that would overflow the context.
MAX_FIGURE = Decimal(1_000_000)


def positive_decimal(text: str, *, field: str, places: int = 2) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidValue(field, f"must be a decimal number, got {text!r}") from None
    if not value.is_finite() or value <= 0:
        raise InvalidValue(field, f"must be greater than 0, got {text!r}")
    if value > MAX_FIGURE:
        raise InvalidValue(field, f"implausibly large: {text!r}")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise InvalidValue(field, f"at most {places} decimal places, got {text!r}")
    return value


def parse_flat(
    *,
    flat_id: str,
    community_id: str,
    building: str,
    unit: str,
    number: str,
    area_text: str,
    owner_id: str,
    owner_name: str,
    fund_balance_fen: int | None,
    index: int,
) -> FlatRecord:
    """Validate one roster line; field names point at ``flats[index]``."""
    where = f"flats[{index}]"
    texts = {
        "building": building,
        "unit": unit,
        "number": number,
        "owner_id": owner_id,
        "owner_name": owner_name,
    }
    for name, value in texts.items():
        if not value.strip():
            raise InvalidValue(f"{where}.{name}", "required")
    try:
        area = validate_area(Decimal(area_text.strip()), field=f"{where}.floor_area_m2")
    except InvalidOperation:
        raise InvalidValue(
            f"{where}.floor_area_m2", f"must be a decimal number, got {area_text!r}"
        ) from None
    if fund_balance_fen is not None and fund_balance_fen < 0:
        raise InvalidValue(f"{where}.fund_balance_fen", "must not be negative")
    return FlatRecord(
        flat_id=flat_id,
        community_id=community_id,
        building=building.strip(),
        unit=unit.strip(),
        number=number.strip(),
        area=area,
        owner_id=owner_id.strip(),
        owner_name=owner_name.strip(),
        fund_balance_fen=fund_balance_fen,
    )


def parse_elevator_spec(
    *,
    registration_code: str,
    equipment_code: str,
    brand: str,
    landings: int,
    rope_count: int,
    rope_length_m: str,
    motor_kw: str,
    installed_on: str,
) -> ElevatorSpec:
    """Validate an elevator's registry facts; every bad field (``spec.*``) is reported."""
    problems: list[InvalidInput] = []

    def checked(parse: Callable[[], T]) -> T:
        try:
            return parse()
        except InvalidInput as problem:
            problems.append(problem)
            return None  # type: ignore[return-value]  # never used: we raise below

    spec = ElevatorSpec(
        registration_code=checked(
            lambda: normalise_registration_code(registration_code, field="spec.registration_code")
        ),
        equipment_code=checked(
            lambda: validate_equipment_code(equipment_code, field="spec.equipment_code").code
        ),
        brand=checked(lambda: _required(brand, "spec.brand")),
        landings=checked(lambda: _in_range(landings, 2, 200, "spec.landings")),
        rope_count=checked(lambda: _in_range(rope_count, 1, 32, "spec.rope_count")),
        rope_length_m=checked(lambda: positive_decimal(rope_length_m, field="spec.rope_length_m")),
        motor_kw=checked(lambda: positive_decimal(motor_kw, field="spec.motor_kw")),
        installed_on=checked(
            lambda: parse_date(installed_on, field="spec.installed_on") if installed_on else None
        ),
    )
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise InvalidFields(problems)
    return spec


def parse_date(text: str, *, field: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidValue(field, f"must be a date YYYY-MM-DD, got {text!r}") from None


def _required(text: str, field: str) -> str:
    if not text.strip():
        raise InvalidValue(field, "required")
    return text.strip()


def _in_range(value: int, low: int, high: int, field: str) -> int:
    if not low <= value <= high:
        raise InvalidValue(field, f"must be between {low} and {high}, got {value}")
    return value
