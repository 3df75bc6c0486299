"""Error and reason codes are part of the API: other services and partners match on them."""

import inspect

from services.policy.domain import errors
from services.policy.domain.policies import IssuanceReason


def test_error_codes_are_stable_and_unique():
    codes = {
        name: cls.code
        for name, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.DomainError)
    }
    assert codes == {
        "DomainError": "DOMAIN_ERROR",
        "InvalidInput": "INVALID_INPUT",
        "PreconditionFailed": "FAILED_PRECONDITION",
        "NotFound": "NOT_FOUND",
        "Conflict": "CONFLICT",
        "PermissionDenied": "PERMISSION_DENIED",
        "InvalidCode": "INVALID_CODE",
        "InvalidValue": "INVALID_VALUE",
        "InvalidFields": "INVALID_FIELDS",
        "InvalidRuleSet": "INVALID_RULE_SET",
        "InvalidProduct": "INVALID_PRODUCT",
        "NotInElectorate": "NOT_IN_ELECTORATE",
        "UnknownRuleSet": "UNKNOWN_RULE_SET",
        "UnknownProduct": "UNKNOWN_PRODUCT",
        "NoReservation": "NO_RESERVATION",
        "EmptyElectorate": "EMPTY_ELECTORATE",
        "NoFlatsToCharge": "NO_FLATS_TO_CHARGE",
        "PolicyNotIssuable": "POLICY_NOT_ISSUABLE",
        "PolicyAlreadyCancelled": "POLICY_ALREADY_CANCELLED",
        "PolicyExpired": "POLICY_EXPIRED",
        "LimitExceeded": "LIMIT_EXCEEDED",
        "PerClaimLimitExceeded": "PER_CLAIM_LIMIT_EXCEEDED",
        "PaymentExceedsReservation": "PAYMENT_EXCEEDS_RESERVATION",
        "ReservationClosed": "RESERVATION_CLOSED",
        "ClaimConflict": "CLAIM_CONFLICT",
    }


def test_invalid_input_is_a_value_error():
    error = errors.InvalidValue("start", "must be aware")
    assert isinstance(error, ValueError)
    assert (error.field, error.message) == ("start", "must be aware")


def test_issuance_reasons_are_stable_and_explained():
    assert [r.value for r in IssuanceReason] == [
        "VOTE_NOT_PASSED",
        "INSPECTION_FAILED",
        "INSPECTION_EXPIRED",
        "POLICY_CANCELLED",
        "POLICY_LAPSED",
    ]
    for reason in IssuanceReason:
        assert reason.en and reason.zh
