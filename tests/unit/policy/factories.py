"""Small builders for policy-domain tests: the defaults are the demo product and a valid year."""

from __future__ import annotations

from datetime import UTC, date, datetime

from services.policy.domain.inspections import InspectionFacts, InspectionResult
from services.policy.domain.policies import Policy, issue_policy
from services.policy.domain.products import Peril, Product

START = datetime(2025, 1, 1, tzinfo=UTC)


def product(**overrides: object) -> Product:
    fields: dict[str, object] = {
        "code": "TEST",
        "name": "test product",
        "annual_premium_fen": 130_000,
        "sum_insured_fen": 15_000_000,
        "per_claim_limit_fen": 5_000_000,
        "deductible_fen": 0,
        "covered_perils": frozenset({Peril.MECHANICAL_FAILURE, Peril.TRAPPED_PASSENGER}),
        "exclusions": frozenset({Peril.VANDALISM}),
    }
    fields.update(overrides)
    return Product(**fields)  # type: ignore[arg-type]


def inspection(
    inspected_on: date = date(2024, 12, 1),
    result: InspectionResult = InspectionResult.PASSED,
    next_due_on: date = date(2025, 12, 1),
) -> InspectionFacts:
    return InspectionFacts(inspected_on, result, next_due_on)


def policy(start: datetime = START, **product_overrides: object) -> Policy:
    return issue_policy(
        policy_id="P1",
        elevator_id="E1",
        product=product(**product_overrides),
        start=start,
        vote_passed=True,
        inspection=inspection(),
        as_of=start,
    )
