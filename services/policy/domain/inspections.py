"""Periodic inspection facts from the regulator's registry.

The special-equipment inspection institute inspects each elevator periodically (normally once
a year). An elevator whose last inspection failed, or whose next inspection is overdue, must
not run: a policy is not issued for it and a loss on it is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from services.policy.domain.errors import InvalidValue
from services.policy.domain.times import add_years


class InspectionResult(StrEnum):
    # A re-inspection that passes after rectification (复检合格) is recorded as PASSED.
    PASSED = "passed"
    FAILED = "failed"


def default_next_due(inspected_on: date) -> date:
    """One year after the inspection: the usual periodic-inspection interval."""
    return add_years(inspected_on, 1)


@dataclass(frozen=True)
class InspectionFacts:
    """The latest inspection as the registry records it. Dates are Chinese calendar dates."""

    inspected_on: date
    result: InspectionResult
    next_due_on: date

    def __post_init__(self) -> None:
        if self.next_due_on <= self.inspected_on:
            raise InvalidValue(
                "next_due_on",
                f"next inspection ({self.next_due_on}) must be after the last one "
                f"({self.inspected_on})",
            )

    @property
    def failed(self) -> bool:
        return self.result is InspectionResult.FAILED

    def overdue_on(self, day: date) -> bool:
        """True once the due date has passed; on the due date itself the elevator may still run.

        Facts from after ``day`` say nothing about ``day``: the caller must pass the
        inspection that was in force then.
        """
        if self.inspected_on > day:
            raise InvalidValue(
                "inspection",
                f"the inspection of {self.inspected_on} is later than {day}; "
                "pass the inspection in force on that day",
            )
        return day > self.next_due_on
