"""Field types of a record kind's schema.

Every value an expression sees is one of four kinds: a number, a date, a string or a bool.
Numbers are IEEE doubles in both evaluators (as in JSON), so the vectorised and reference
paths agree bit for bit; an ``int`` column is therefore limited to ±2**53, where a double is
still exact (:data:`MAX_EXACT_INT`). A date is a whole number of days since 1970-01-01,
within the years 1 to 9999 (:data:`MIN_DAY`, :data:`MAX_DAY`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from enum import StrEnum

MAX_EXACT_INT = 2**53
EPOCH = date(1970, 1, 1)
# Dates are days a datetime.date can hold (years 1 to 9999), so a trace can show them.
MIN_DAY = (date.min - EPOCH).days
MAX_DAY = (date.max - EPOCH).days


class FieldType(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"  # days since 1970-01-01
    STR = "str"


# field name → type; the rule set file's ``[fields]`` table.
Schema = Mapping[str, FieldType]


def to_days(value: date) -> int:
    """A date as days since 1970-01-01 (negative before)."""
    return (value - EPOCH).days
