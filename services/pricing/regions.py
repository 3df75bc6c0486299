"""Which regions pricing can judge: GB/T 2260 codes of mainland provinces (data, not a rule)."""

from __future__ import annotations

import re

# GB/T 2260 province-level codes of the mainland (Taiwan 71, Hong Kong 81, Macao 82 excluded:
# no mainland price list covers them).
PROVINCES = frozenset(
    [
        "11",
        "12",
        "13",
        "14",
        "15",
        "21",
        "22",
        "23",
        "31",
        "32",
        "33",
        "34",
        "35",
        "36",
        "37",
        "41",
        "42",
        "43",
        "44",
        "45",
        "46",
        "50",
        "51",
        "52",
        "53",
        "54",
        "61",
        "62",
        "63",
        "64",
        "65",
    ]
)
_CODE = re.compile(r"\d{6}")


def region_problem(region: str) -> str | None:
    """Why ``region`` is not a region we know, or None."""
    if not _CODE.fullmatch(region):
        return f"region must be a 6-digit GB/T 2260 code, got {region!r}"
    if region[:2] not in PROVINCES:
        return f"region {region} is in no mainland province"
    return None
