"""The parts catalogue (``catalogue.toml``): what a quote line can be, as stable codes.

The catalogue is data, versioned with the code and loaded once at start: a new alias or part
is an edit of the file and a new ``version``, never a code change. Category codes are stored
in quotes, observations and verdicts, so one is never renamed or reused. ``labour`` is a
pseudo-category for labour lines (人工费, 安装费, 工时 …), so a quote line of either kind goes
through the same matcher.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from types import MappingProxyType
from typing import Any

_PACKAGE = "services.pricing.core"
_FILE = "catalogue.toml"

LABOUR = "labour"

# The fault categories of the claims side (issue 6). A part's ``faults`` says which of them it
# can plausibly fix; anything else in a catalogue file is refused, so a typo cannot silently
# make every line of a quote "unrelated to the fault".
FAULT_CATEGORIES: frozenset[str] = frozenset(
    {
        "machine_noise",
        "door_fault",
        "overspeed_or_slip",
        "leveling_fault",
        "control_fault",
        "rope_wear",
        "brake_fault",
        "call_or_display_fault",
        "drive_fault",
        "trapped_passenger",
    }
)

# The codes the issue names: a catalogue without one of them is refused (they are stored in
# other services' data and in the evaluation format).
REQUIRED_CODES: frozenset[str] = frozenset(
    {
        "traction_machine",
        "wire_rope",
        "inverter",
        "control_board",
        "door_operator",
        "landing_door",
        "door_light_curtain",
        "door_lock",
        "brake",
        "encoder",
        "speed_governor",
        "safety_gear",
        "guide_shoe",
        "buffer",
        "push_button",
        "display_board",
        "travelling_cable",
        "contactor",
        "rope_fastening",
        LABOUR,
    }
)

_CODE = re.compile(r"[a-z][a-z0-9_]*")
_KEYS = {"code", "name_zh", "name_en", "units", "aliases", "faults", "per_elevator_max"}
_OPTIONAL = {"per_elevator_max"}


class InvalidCatalogue(ValueError):
    """The catalogue file is malformed; the message says where."""

    code = "INVALID_CATALOGUE"


@dataclass(frozen=True)
class Category:
    """One part category (or ``labour``).

    ``units`` are the expected units, the usual one first. ``per_elevator_max`` is the most
    units one elevator can take (``None``: no fixed limit; ropes, landing doors and the like
    depend on the elevator and are judged by the padding rules).
    """

    code: str
    name_zh: str
    name_en: str
    units: tuple[str, ...]
    aliases: tuple[str, ...]
    faults: frozenset[str]
    per_elevator_max: int | None

    @property
    def is_labour(self) -> bool:
        return self.code == LABOUR

    def fixes(self, fault: str) -> bool:
        """Whether this part plausibly fixes a fault of this category."""
        return fault in self.faults


@dataclass(frozen=True)
class Catalogue:
    """A versioned set of categories, keyed by code (in file order).

    ``homophones`` are groups of characters one toneless pinyin syllable offers (the usual
    misspelling of a typed quote is a homophone); the matcher uses them, see the data file.
    """

    version: str
    categories: Mapping[str, Category]
    homophones: tuple[str, ...] = ()

    def get(self, code: str) -> Category | None:
        return self.categories.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.categories

    def __iter__(self) -> Iterator[Category]:
        return iter(self.categories.values())

    def __len__(self) -> int:
        return len(self.categories)

    def aliases(self) -> Iterator[tuple[str, str]]:
        """Every (alias, category code) pair, the category's own names included."""
        for category in self.categories.values():
            seen: set[str] = set()
            for alias in (category.name_zh, category.name_en, *category.aliases):
                if alias not in seen:
                    seen.add(alias)
                    yield alias, category.code


def load_catalogue(text: str | None = None) -> Catalogue:
    """The catalogue from TOML ``text``; by default the one packaged with this module."""
    if text is None:
        text = resources.files(_PACKAGE).joinpath(_FILE).read_text(encoding="utf-8")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidCatalogue(f"catalogue is not valid TOML: {error}") from None
    version = document.get("version")
    if not isinstance(version, str) or not version.strip():
        raise InvalidCatalogue("catalogue needs a non-empty string version")
    entries = document.get("category")
    if not isinstance(entries, list) or not entries:
        raise InvalidCatalogue("catalogue must have a non-empty array of [[category]] tables")
    categories: dict[str, Category] = {}
    for index, entry in enumerate(entries):
        category = _category(entry, f"category[{index}]")
        if category.code in categories:
            raise InvalidCatalogue(f"category {category.code} is defined twice")
        categories[category.code] = category
    missing = REQUIRED_CODES - set(categories)
    if missing:
        raise InvalidCatalogue(f"catalogue lacks the required categories {sorted(missing)}")
    return Catalogue(
        version=version,
        categories=MappingProxyType(categories),
        homophones=_homophones(document.get("phonetics", {})),
    )


def _homophones(section: Any) -> tuple[str, ...]:
    if not isinstance(section, dict) or set(section) - {"homophones"}:
        raise InvalidCatalogue("[phonetics] may hold only a homophones list")
    groups = section.get("homophones", [])
    if not isinstance(groups, list):
        raise InvalidCatalogue("phonetics.homophones must be a list of strings")
    seen: dict[str, str] = {}
    for group in groups:
        if not isinstance(group, str) or len(group) < 2 or any(ch.isspace() for ch in group):
            raise InvalidCatalogue(
                f"a homophone group is two or more characters without spaces, got {group!r}"
            )
        for ch in group:
            if ch in seen:
                raise InvalidCatalogue(f"{ch!r} is in two homophone groups: {seen[ch]}, {group}")
            seen[ch] = group
    return tuple(groups)


def _category(entry: Any, where: str) -> Category:
    if not isinstance(entry, dict):
        raise InvalidCatalogue(f"{where} must be a table")
    missing = _KEYS - _OPTIONAL - set(entry)
    unknown = set(entry) - _KEYS
    if missing or unknown:
        raise InvalidCatalogue(
            f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}"
        )
    code = entry["code"]
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise InvalidCatalogue(f"{where}.code must be lower snake case, got {code!r}")
    where = f"category {code}"
    for key in ("name_zh", "name_en"):
        if not isinstance(entry[key], str) or not entry[key].strip():
            raise InvalidCatalogue(f"{where}: {key} must be a non-empty string")
    units = _strings(entry["units"], f"{where}: units")
    aliases = _strings(entry["aliases"], f"{where}: aliases")
    faults = frozenset(_strings(entry["faults"], f"{where}: faults"))
    unknown_faults = faults - FAULT_CATEGORIES
    if unknown_faults:
        raise InvalidCatalogue(f"{where}: unknown fault categories {sorted(unknown_faults)}")
    limit = entry.get("per_elevator_max")
    # bool is an int in Python; a limit of True would be a silent 1.
    if limit is not None and (type(limit) is not int or limit < 1):
        raise InvalidCatalogue(f"{where}: per_elevator_max must be a positive integer")
    return Category(
        code=code,
        name_zh=entry["name_zh"],
        name_en=entry["name_en"],
        units=units,
        aliases=aliases,
        faults=faults,
        per_elevator_max=limit,
    )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise InvalidCatalogue(f"{where} must be a non-empty list of strings")
    result: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise InvalidCatalogue(f"{where} must hold non-empty strings, got {item!r}")
        if item not in result:
            result.append(item)
    return tuple(result)
