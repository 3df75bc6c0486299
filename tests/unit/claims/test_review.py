"""Decisions and the double review: nobody approves money alone."""

from datetime import UTC, datetime

import pytest

from services.claims.domain.adjudication import LinePrice, Recommendation
from services.claims.domain.errors import (
    InvalidFields,
    InvalidValue,
    RoleNotAllowed,
    SecondApproverConflict,
)
from services.claims.domain.review import (
    Decision,
    DecisionKind,
    ReviewPolicy,
    SecondReview,
    SecondReviewKind,
    check_first_reviewer,
    check_second_approver,
    check_second_review,
    make_decision,
    needs_second_review,
    state_after_decision,
)
from services.claims.domain.states import TRANSITIONS, Action, ClaimState

from .factories import covered, fair_prices, quote, run

AT = datetime(2025, 6, 3, 1, 0, tzinfo=UTC)
K = DecisionKind
POLICY = ReviewPolicy(second_review_above_fen=1_000_000)


def trimmed() -> Recommendation:
    q = quote()
    prices = fair_prices(q)
    prices[1] = LinePrice(2, "steel_wire_rope", 5_000)  # line 2: 4,800 → 3,000 CNY
    return run(quote=q, prices=prices, coverage=covered(per_claim_limit_fen=1_100_000))


def decide(kind: DecisionKind, rec: Recommendation | None = None, **kw: object) -> Decision:
    arguments: dict[str, object] = {
        "kind": kind,
        "reviewer": "adjuster-li",
        "role": "adjuster",
        "at": AT,
        "recommendation": rec or trimmed(),
    } | kw
    return make_decision(**arguments)  # type: ignore[arg-type]


def test_second_review_threshold():
    assert not needs_second_review(1_000_000, POLICY)
    assert needs_second_review(1_000_001, POLICY)
    with pytest.raises(InvalidValue):
        ReviewPolicy(-1)


@pytest.mark.parametrize(
    ("approver", "first", "submitter", "was"),
    [
        ("wang", "wang", "zhao", "first reviewer"),
        ("Wang ", "wang", None, "first reviewer"),  # case and spaces do not make another person
        ("zhao", "wang", "zhao", "submitter"),
        ("zhao", None, "ZHAO", "submitter"),
    ],
)
def test_second_approver_conflicts(approver, first, submitter, was):
    with pytest.raises(SecondApproverConflict) as caught:
        check_second_approver(approver=approver, first_reviewer=first, submitter=submitter)
    assert caught.value.code == "SAME_PERSON_APPROVAL"
    assert caught.value.was == was


def test_a_third_person_may_approve():
    check_second_approver(approver="chen", first_reviewer="wang", submitter="zhao")
    check_second_approver(approver="chen", first_reviewer=None, submitter=None)
    with pytest.raises(InvalidValue):
        check_second_approver(approver=" ", first_reviewer="wang", submitter=None)


def test_the_submitter_cannot_be_the_first_reviewer_either():
    with pytest.raises(SecondApproverConflict):
        check_first_reviewer(reviewer="li", submitter="LI")
    check_first_reviewer(reviewer="li", submitter="wang")
    check_first_reviewer(reviewer="li", submitter=None)


def test_approve_takes_the_recommendation():
    rec = trimmed()
    d = decide(K.APPROVE, rec)
    assert d.approved_total_fen == rec.approved_total_fen == 1_020_000
    assert d.line_amounts is None
    assert state_after_decision(d, POLICY) is ClaimState.PENDING_SECOND_REVIEW
    assert state_after_decision(d, ReviewPolicy(2_000_000)) is ClaimState.APPROVED


def test_approve_in_part_may_restore_a_trimmed_line_but_not_pay_more_than_asked():
    d = decide(
        K.APPROVE_IN_PART,
        line_amounts={1: 300_000, 2: 400_000, 3: 240_000, 4: 100_000},
        note="rope price accepted for 60 m of φ10; encoder at the domestic price",
    )
    assert d.approved_total_fen == 1_040_000
    assert dict(d.line_amounts or {}) == {1: 300_000, 2: 400_000, 3: 240_000, 4: 100_000}
    assert state_after_decision(d, POLICY) is ClaimState.PENDING_SECOND_REVIEW
    assert state_after_decision(d, ReviewPolicy(1_040_000)) is ClaimState.PARTLY_APPROVED


def test_approve_in_part_checks_every_line():
    with pytest.raises(InvalidFields) as caught:
        decide(
            K.APPROVE_IN_PART,
            line_amounts={1: 300_001, 2: 100, 9: 1},
            note="n",
        )
    assert [p.field for p in caught.value.problems] == [
        "line_amounts[3]",
        "line_amounts[4]",
        "line_amounts[1]",
        "line_amounts[9]",
    ]


def test_approve_in_part_must_be_in_part_and_within_the_policy():
    full = {1: 300_000, 2: 480_000, 3: 240_000, 4: 180_000}
    with pytest.raises(InvalidFields) as caught:
        decide(K.APPROVE_IN_PART, line_amounts=full, note="all of it")
    assert [p.field for p in caught.value.problems] == [
        "approved_total_fen",
        "approved_total_fen",
    ]  # not less than submitted, and above the 1,100,000 cap
    with pytest.raises(InvalidFields) as caught:
        decide(K.APPROVE_IN_PART, line_amounts=full | {4: 170_000}, note="almost")
    assert "at most 1100000 fen" in caught.value.problems[0].message


def test_decisions_need_their_reasons_and_notes():
    with pytest.raises(InvalidFields) as caught:
        decide(K.REJECT)
    assert [p.field for p in caught.value.problems] == ["reason_codes", "note"]
    with pytest.raises(InvalidFields) as caught:
        decide(K.APPROVE_IN_PART, line_amounts={1: 1, 2: 1, 3: 1, 4: 1})
    assert [p.field for p in caught.value.problems] == ["note"]
    with pytest.raises(InvalidFields) as caught:
        decide(K.REJECT, reason_codes=["wear is excluded"], note="n")
    assert caught.value.problems[0].field == "reason_codes[0]"
    with pytest.raises(InvalidFields):
        decide(K.REQUEST_EVIDENCE)
    d = decide(K.REJECT, reason_codes=["PERIL_EXCLUDED"], note="worn rope, not a breakdown ")
    assert (d.approved_total_fen, d.note) == (0, "worn rope, not a breakdown")
    assert state_after_decision(d, POLICY) is ClaimState.REJECTED
    d = decide(K.REQUEST_EVIDENCE, note="photo of the encoder's nameplate, please")
    assert state_after_decision(d, POLICY) is ClaimState.QUOTED


def test_approving_nothing_is_a_rejection():
    rec = run(coverage=covered(deductible_fen=10**9))
    with pytest.raises(InvalidFields) as caught:
        decide(K.APPROVE, rec)
    assert "reject" in caught.value.problems[0].message


def test_decision_checks_on_its_own():
    with pytest.raises(InvalidFields) as caught:
        Decision(K.APPROVE, "", "adjuster", datetime(2025, 6, 3), 5, {1: 5})
    assert [p.field for p in caught.value.problems] == ["reviewer", "at", "line_amounts"]
    with pytest.raises(InvalidFields):
        Decision(K.APPROVE_IN_PART, "li", "adjuster", AT, 5, {1: 4}, note="n")  # sum ≠ total
    with pytest.raises(InvalidFields):
        Decision("approve_all", "li", "adjuster", AT, 5, None)  # type: ignore[arg-type]


def test_roles_that_may_not_decide():
    with pytest.raises(RoleNotAllowed):
        decide(K.APPROVE, role="contractor")
    with pytest.raises(RoleNotAllowed):
        decide(K.APPROVE, role="service")


def test_decision_kinds_are_actions_with_the_targets_they_lead_to():
    for kind in DecisionKind:
        assert (ClaimState.UNDER_REVIEW, Action(kind)) in TRANSITIONS


def test_second_review():
    first = decide(K.APPROVE)
    ok = SecondReview(SecondReviewKind.SECOND_APPROVE, "senior-chen", "senior_reviewer", AT)
    assert check_second_review(ok, first=first, submitter="pm-zhao") is ClaimState.APPROVED
    in_part = decide(K.APPROVE_IN_PART, line_amounts={1: 1, 2: 1, 3: 1, 4: 1}, note="n")
    assert check_second_review(ok, first=in_part, submitter=None) is ClaimState.PARTLY_APPROVED
    no = SecondReview(
        SecondReviewKind.SECOND_REJECT, "senior-chen", "supervisor", AT, ("PRICE_PADDED",), "n"
    )
    assert check_second_review(no, first=first, submitter=None) is ClaimState.REJECTED

    same = SecondReview(SecondReviewKind.SECOND_APPROVE, "Adjuster-Li", "senior_reviewer", AT)
    with pytest.raises(SecondApproverConflict):
        check_second_review(same, first=first, submitter=None)
    submitter = SecondReview(SecondReviewKind.SECOND_APPROVE, "pm-zhao", "supervisor", AT)
    with pytest.raises(SecondApproverConflict):
        check_second_review(submitter, first=first, submitter="pm-zhao")
    adjuster = SecondReview(SecondReviewKind.SECOND_APPROVE, "adjuster-wu", "adjuster", AT)
    with pytest.raises(RoleNotAllowed):
        check_second_review(adjuster, first=first, submitter=None)
    with pytest.raises(InvalidFields):
        SecondReview(SecondReviewKind.SECOND_REJECT, "senior-chen", "supervisor", AT)
    rejected = decide(K.REJECT, reason_codes=["X_Y"], note="n")
    with pytest.raises(InvalidValue):
        check_second_review(ok, first=rejected, submitter=None)
