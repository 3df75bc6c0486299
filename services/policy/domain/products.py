"""Insurance products as data (``products.toml``).

A product's money figures are per elevator per policy year, in fen. Perils are a small,
stable vocabulary shared with claims: a peril code is never renamed or reused.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from services.policy.domain.catalogue import read_packaged_text
from services.policy.domain.errors import InvalidProduct, InvalidValue, UnknownProduct


class Peril(StrEnum):
    """What caused the loss. Stable codes: claims and partners send them as strings."""

    MECHANICAL_FAILURE = "mechanical_failure"  # traction machine, ropes, brake, guide shoes …
    ELECTRICAL_FAILURE = "electrical_failure"  # control board, inverter, encoder, wiring …
    DOOR_SYSTEM = "door_system"  # door operator, landing and car doors
    TRAPPED_PASSENGER = "trapped_passenger"  # 困人: the rescue and the repair that ends it
    WEAR_AND_TEAR = "wear_and_tear"  # parts worn out in normal use
    VANDALISM = "vandalism"  # deliberate damage by people
    FLOOD = "flood"  # water in the pit or shaft
    FIRE = "fire"
    IMPROPER_MAINTENANCE = "improper_maintenance"  # the contractor's fault: theirs to pay


@dataclass(frozen=True)
class Product:
    code: str
    name: str
    annual_premium_fen: int
    sum_insured_fen: int
    per_claim_limit_fen: int
    deductible_fen: int
    covered_perils: frozenset[Peril]
    # Explicitly excluded perils; a peril in neither set is simply not covered.
    exclusions: frozenset[Peril]

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.code):
            raise InvalidProduct(
                f"product code must be letters, digits, '_', '.' or '-', got {self.code!r}",
                field="code",
            )
        if not self.name.strip():
            raise InvalidProduct(f"product {self.code} has no name", field="name")
        for field in ("annual_premium_fen", "sum_insured_fen", "per_claim_limit_fen"):
            if getattr(self, field) <= 0:
                raise InvalidProduct(f"{field} must be positive", field=field)
        if self.per_claim_limit_fen > self.sum_insured_fen:
            raise InvalidProduct(
                "per_claim_limit_fen must not exceed sum_insured_fen", field="per_claim_limit_fen"
            )
        if not 0 <= self.deductible_fen < self.per_claim_limit_fen:
            raise InvalidProduct(
                "deductible_fen must be at least 0 and below per_claim_limit_fen",
                field="deductible_fen",
            )
        if not self.covered_perils:
            raise InvalidProduct(f"product {self.code} covers no peril", field="covered_perils")
        both = self.covered_perils & self.exclusions
        if both:
            raise InvalidProduct(
                f"perils both covered and excluded: {sorted(both)}", field="exclusions"
            )

    def payable_fen(self, loss_fen: int, *, remaining_fen: int) -> int:
        """What the insurer pays for an approved loss: less the deductible, within the
        per-claim limit and what remains of the sum insured this policy year."""
        if loss_fen < 0:
            raise InvalidValue("loss_fen", f"loss must not be negative, got {loss_fen}")
        if remaining_fen < 0:
            raise InvalidValue(
                "remaining_fen", f"remaining must not be negative, got {remaining_fen}"
            )
        return max(0, min(loss_fen - self.deductible_fen, self.per_claim_limit_fen, remaining_fen))


_PRODUCT_KEYS = {
    "code",
    "name",
    "annual_premium_fen",
    "sum_insured_fen",
    "per_claim_limit_fen",
    "deductible_fen",
    "covered_perils",
    "exclusions",
}
_MONEY_KEYS = ("annual_premium_fen", "sum_insured_fen", "per_claim_limit_fen", "deductible_fen")


def parse_products(text: str) -> dict[str, Product]:
    """Products from TOML text (``[[product]]`` tables), keyed by product code."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidProduct(f"products are not valid TOML: {error}") from None
    entries = document.get("product")
    if not isinstance(entries, list) or not entries:
        raise InvalidProduct("products must be a non-empty array of [[product]] tables")
    products: dict[str, Product] = {}
    for index, entry in enumerate(entries):
        product = _product_from_table(entry, f"product[{index}]")
        if product.code in products:
            raise InvalidProduct(f"product {product.code} is defined twice")
        products[product.code] = product
    return products


def _product_from_table(entry: Any, where: str) -> Product:
    if not isinstance(entry, dict):
        raise InvalidProduct(f"{where} must be a table", field=where)
    missing = _PRODUCT_KEYS - set(entry)
    unknown = set(entry) - _PRODUCT_KEYS
    if missing or unknown:
        raise InvalidProduct(
            f"{where}: missing keys {sorted(missing)}, unknown keys {sorted(unknown)}", field=where
        )
    for key in ("code", "name"):
        if not isinstance(entry[key], str):
            raise InvalidProduct(f"{where}.{key} must be a string", field=f"{where}.{key}")
    for key in _MONEY_KEYS:
        # bool is an int in Python; a float would be a money bug. Only true integers pass.
        if type(entry[key]) is not int:
            raise InvalidProduct(
                f"{where}.{key} must be an integer number of fen", field=f"{where}.{key}"
            )
    try:
        return Product(
            code=entry["code"],
            name=entry["name"],
            annual_premium_fen=entry["annual_premium_fen"],
            sum_insured_fen=entry["sum_insured_fen"],
            per_claim_limit_fen=entry["per_claim_limit_fen"],
            deductible_fen=entry["deductible_fen"],
            covered_perils=_perils(entry["covered_perils"], f"{where}.covered_perils"),
            exclusions=_perils(entry["exclusions"], f"{where}.exclusions"),
        )
    except InvalidProduct as error:
        field = where if error.field is None else f"{where}.{error.field}"
        raise InvalidProduct(error.message, field=field) from None


def _perils(values: Any, where: str) -> frozenset[Peril]:
    if not isinstance(values, list):
        raise InvalidProduct(f"{where} must be a list of peril codes", field=where)
    perils = set()
    for value in values:
        try:
            perils.add(Peril(value))
        except ValueError:
            known = ", ".join(p.value for p in Peril)
            raise InvalidProduct(
                f"{where}: unknown peril {value!r} (known: {known})", field=where
            ) from None
    return frozenset(perils)


def load_default_products() -> dict[str, Product]:
    """The products shipped with the service (``products.toml``)."""
    return parse_products(read_packaged_text("products.toml"))


def find_product(products: Mapping[str, Product], code: str) -> Product:
    try:
        return products[code]
    except KeyError:
        raise UnknownProduct(code) from None


def parse_peril(text: str, *, field: str = "peril") -> Peril:
    """A peril from its code; unknown codes are refused, listing the known ones."""
    try:
        return Peril(text.strip())
    except ValueError:
        known = ", ".join(p.value for p in Peril)
        raise InvalidValue(field, f"unknown peril {text!r} (known: {known})") from None
