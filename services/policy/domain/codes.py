"""Elevator identity: equipment code (设备代码) and use-registration number (使用登记证编号).

Codes are identifiers, not numbers: they are kept as strings with their leading zeros, and
every part parsed out of them is a string too.

Equipment-code formats in use (each is a named ``EquipmentCodeFormat``):

``registration_20``
    The registration code (注册代码) given by the registering office under the registration
    rules of 2001–2017, still the most common key in city registries and IoT platforms:
    20 digits = category (4) + GB/T 2260 division of the registering office (6)
    + year and month of registration (YYYYMM) + sequence within that month (0001–9999).
``manufacturer_18``
    The lifelong product code of TSG 08-2017 (附件 特种设备代码编号方法), given by the maker:
    category (4) + maker code (5: the licensing authority's 2-digit region, "10" for the
    national authority, then the 3-digit licence sequence) + year of manufacture (4)
    + maker's sequence (5 characters; letters replace digits past 99999).
``organisation_21``
    The code of the special-equipment data-element standard used by some provincial systems:
    category (4) + GB 11714 organisation code of the registering or making unit (9, with its
    check character) + year (4) + sequence (4).

The use-registration number of TSG 08-2017, e.g. ``梯11粤B00123(18)``: 梯 (elevator) + the
two middle digits of the category code + the province abbreviation + the issuing office's
letter + a 5-digit sequence + the 2-digit year of issue in brackets.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from services.policy.domain.errors import InvalidCode


@dataclass(frozen=True)
class ElevatorCategory:
    code: str
    name_zh: str
    name_en: str


# 特种设备目录 (2014), category 3 (电梯), at the variety (品种) level. Codes a registry uses for
# elevators; anything else in the first four digits is not an elevator.
ELEVATOR_CATEGORIES: dict[str, ElevatorCategory] = {
    c.code: c
    for c in (
        ElevatorCategory("3110", "曳引驱动乘客电梯", "traction passenger lift"),
        ElevatorCategory("3120", "曳引驱动载货电梯", "traction goods lift"),
        ElevatorCategory("3130", "强制驱动载货电梯", "positive-drive goods lift"),
        ElevatorCategory("3210", "液压乘客电梯", "hydraulic passenger lift"),
        ElevatorCategory("3220", "液压载货电梯", "hydraulic goods lift"),
        ElevatorCategory("3310", "自动扶梯", "escalator"),
        ElevatorCategory("3320", "自动人行道", "moving walk"),
        ElevatorCategory("3410", "防爆电梯", "explosion-proof lift"),
        ElevatorCategory("3420", "消防员电梯", "firefighters lift"),
        ElevatorCategory("3430", "杂物电梯", "service lift (dumbwaiter)"),
    )
}

# GB/T 2260 province-level divisions of the mainland (the registries are mainland offices, so
# 71 Taiwan, 81 Hong Kong and 82 Macao cannot appear), with their abbreviations. The second
# abbreviations (黔 滇 陇 蜀 秦) are official too and appear on certificates.
PROVINCES: dict[str, str] = {
    "11": "京", "12": "津", "13": "冀", "14": "晋", "15": "蒙",
    "21": "辽", "22": "吉", "23": "黑",
    "31": "沪", "32": "苏", "33": "浙", "34": "皖", "35": "闽", "36": "赣", "37": "鲁",
    "41": "豫", "42": "鄂", "43": "湘", "44": "粤", "45": "桂", "46": "琼",
    "50": "渝", "51": "川", "52": "贵", "53": "云", "54": "藏",
    "61": "陕", "62": "甘", "63": "青", "64": "宁", "65": "新",
}  # fmt: skip
PROVINCE_BY_ABBREVIATION: dict[str, str] = {abbr: code for code, abbr in PROVINCES.items()} | {
    "黔": "52",
    "滇": "53",
    "陇": "62",
    "蜀": "51",
    "秦": "61",
}
# Maker codes start with the licensing authority's region; the national authority uses "10".
_NATIONAL_AUTHORITY = "10"

_MIN_YEAR, _MAX_YEAR = 1950, 2100


class EquipmentCodeFormat(StrEnum):
    REGISTRATION_20 = "registration_20"
    MANUFACTURER_18 = "manufacturer_18"
    ORGANISATION_21 = "organisation_21"


@dataclass(frozen=True)
class EquipmentCode:
    """A validated equipment code and its parts (all strings, leading zeros kept)."""

    code: str
    format: EquipmentCodeFormat
    category: str
    year: str
    sequence: str
    # GB/T 2260 division of the registering office (registration_20 only).
    region: str | None = None
    # Month of registration (registration_20 only).
    month: str | None = None
    # Maker code (manufacturer_18) or organisation code (organisation_21).
    maker: str | None = None

    @property
    def category_name(self) -> str:
        return ELEVATOR_CATEGORIES[self.category].name_zh


@dataclass(frozen=True)
class RegistrationCode:
    """A validated use-registration certificate number in canonical form."""

    code: str
    category: str  # two digits, e.g. "11" for 3110
    province: str  # the abbreviation as printed, e.g. "粤"
    province_code: str  # GB/T 2260, e.g. "44"
    office: str  # the issuing office's letter
    sequence: str
    year: str  # two digits


def _canonical_text(raw: str) -> str:
    """Full-width to half-width (NFKC), no whitespace anywhere, ASCII letters in upper case."""
    text = unicodedata.normalize("NFKC", raw)
    return "".join(ch for ch in text if not ch.isspace()).upper()


def validate_equipment_code(raw: str, *, field: str = "equipment_code") -> EquipmentCode:
    """Validate an equipment code in any known format and return it with its parts.

    Spaces and full-width characters are tolerated and removed. ``field`` names the argument
    in the error, so the gRPC layer can report the right field.
    """
    code = _canonical_text(raw)
    if not code:
        raise InvalidCode(field, "equipment code is empty")
    parse = _PARSERS.get(len(code))
    if parse is None:
        raise InvalidCode(
            field,
            f"equipment code must be 20 digits (or 18 or 21 characters in the TSG 08-2017 "
            f"and organisation-code formats), got {len(code)}",
        )
    return parse(code, field)


def _parse_registration_20(code: str, field: str) -> EquipmentCode:
    _require_digits(code, "a 20-character equipment code", field)
    category, region, year, month, sequence = (
        code[0:4],
        code[4:10],
        code[10:14],
        code[14:16],
        code[16:20],
    )
    _require_elevator_category(category, field)
    if region[:2] not in PROVINCES:
        raise InvalidCode(
            field, f"equipment code region {region} does not start with a province code"
        )
    _require_year(year, field)
    if not "01" <= month <= "12":
        raise InvalidCode(field, f"equipment code month must be 01–12, got {month}")
    _require_sequence(sequence, field)
    return EquipmentCode(
        code=code,
        format=EquipmentCodeFormat.REGISTRATION_20,
        category=category,
        year=year,
        sequence=sequence,
        region=region,
        month=month,
    )


def _parse_manufacturer_18(code: str, field: str) -> EquipmentCode:
    _require_digits(
        code[:13], "the category, maker code and year of an 18-character equipment code", field
    )
    category, maker, year, sequence = code[0:4], code[4:9], code[9:13], code[13:18]
    _require_elevator_category(category, field)
    authority = maker[:2]
    if authority != _NATIONAL_AUTHORITY and authority not in PROVINCES:
        raise InvalidCode(
            field,
            f"maker code {maker} must start with a province code or 10 (national authority)",
        )
    _require_year(year, field)
    if not re.fullmatch(r"[0-9A-Z]{5}", sequence):
        raise InvalidCode(
            field, f"maker's sequence must be 5 digits or capital letters, got {sequence!r}"
        )
    _require_sequence(sequence, field)
    return EquipmentCode(
        code=code,
        format=EquipmentCodeFormat.MANUFACTURER_18,
        category=category,
        year=year,
        sequence=sequence,
        maker=maker,
    )


def _parse_organisation_21(code: str, field: str) -> EquipmentCode:
    category, organisation, year, sequence = code[0:4], code[4:13], code[13:17], code[17:21]
    _require_digits(category, "the category of a 21-character equipment code", field)
    _require_elevator_category(category, field)
    _require_organisation_code(organisation, field)
    _require_digits(
        code[13:], "the year and sequence of a 21-character equipment code", field, offset=13
    )
    _require_year(year, field)
    _require_sequence(sequence, field)
    return EquipmentCode(
        code=code,
        format=EquipmentCodeFormat.ORGANISATION_21,
        category=category,
        year=year,
        sequence=sequence,
        maker=organisation,
    )


_PARSERS = {20: _parse_registration_20, 18: _parse_manufacturer_18, 21: _parse_organisation_21}


def _require_digits(text: str, what: str, field: str, *, offset: int = 0) -> None:
    for index, ch in enumerate(text):
        if not "0" <= ch <= "9":
            raise InvalidCode(
                field, f"{what} must be digits, got {ch!r} at position {offset + index + 1}"
            )


def _require_elevator_category(category: str, field: str) -> None:
    if category not in ELEVATOR_CATEGORIES:
        known = ", ".join(ELEVATOR_CATEGORIES)
        raise InvalidCode(
            field, f"category {category} is not an elevator category (known: {known})"
        )


def _require_year(year: str, field: str) -> None:
    if not str(_MIN_YEAR) <= year <= str(_MAX_YEAR):
        raise InvalidCode(field, f"year must be {_MIN_YEAR}–{_MAX_YEAR}, got {year}")


def _require_sequence(sequence: str, field: str) -> None:
    # Sequences count from 1 in every format; all zeros is a placeholder, not a code.
    if set(sequence) == {"0"}:
        raise InvalidCode(field, f"sequence must not be all zeros, got {sequence}")


# GB 11714 organisation code: 8 body characters (digits or capital letters, A=10 … Z=35)
# weighted 3 7 9 10 5 8 4 2; the check is 11 - (sum mod 11), written X for 10 and 0 for 11.
_ORGANISATION_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def _require_organisation_code(organisation: str, field: str) -> None:
    if not re.fullmatch(r"[0-9A-Z]{8}[0-9X]", organisation):
        raise InvalidCode(
            field,
            f"organisation code must be 8 digits or capital letters and a check digit or X, "
            f"got {organisation!r}",
        )
    total = sum(
        int(ch, 36) * weight
        for ch, weight in zip(organisation[:8], _ORGANISATION_WEIGHTS, strict=True)
    )
    check = 11 - total % 11
    expected = {10: "X", 11: "0"}.get(check, str(check))
    if organisation[8] != expected:
        raise InvalidCode(
            field,
            f"organisation code {organisation} has check character {organisation[8]}, "
            f"expected {expected}",
        )


_REGISTRATION_SHAPE = re.compile(
    r"梯(?P<category>\d{2})(?P<province>.)(?P<office>[A-Z])(?P<sequence>\d{5})"
    r"\((?P<year>\d{2})\)"
)


def parse_registration_code(raw: str, *, field: str = "registration_code") -> RegistrationCode:
    """Validate a use-registration number and return it in canonical form with its parts.

    Tolerated and normalised: full-width characters (（）, ０-９, Ａ-Ｚ), spaces anywhere and a
    lower-case office letter.
    """
    code = _canonical_text(raw)
    if not code:
        raise InvalidCode(field, "registration code is empty")
    if not code.startswith("梯"):
        raise InvalidCode(
            field, f"registration code must start with 梯 (elevator), got {code[0]!r}"
        )
    match = _REGISTRATION_SHAPE.fullmatch(code)
    if match is None:
        raise InvalidCode(
            field,
            "registration code must look like 梯11粤B00123(18): 梯, 2 digits, province, "
            f"office letter, 5 digits, 2-digit year in brackets; got {code!r}",
        )
    category = match["category"]
    known = sorted(c[1:3] for c in ELEVATOR_CATEGORIES)
    if category not in known:
        raise InvalidCode(
            field,
            f"registration code category {category} is not an elevator category "
            f"(known: {', '.join(known)})",
        )
    province_code = PROVINCE_BY_ABBREVIATION.get(match["province"])
    if province_code is None:
        raise InvalidCode(
            field, f"{match['province']!r} is not a province abbreviation in registration code"
        )
    _require_sequence(match["sequence"], field)
    return RegistrationCode(
        code=code,
        category=category,
        province=match["province"],
        province_code=province_code,
        office=match["office"],
        sequence=match["sequence"],
        year=match["year"],
    )


def normalise_registration_code(raw: str, *, field: str = "registration_code") -> str:
    """The canonical form of a use-registration number, e.g. ``梯11粤B00123(18)``."""
    return parse_registration_code(raw, field=field).code
