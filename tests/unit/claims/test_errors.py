"""Error codes are part of the API: other services and partners match on them."""

import inspect

from services.claims.domain import errors


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
        "InvalidValue": "INVALID_VALUE",
        "InvalidFields": "INVALID_FIELDS",
        "TargetRequired": "TRANSITION_TARGET_REQUIRED",
        "ClaimNotFound": "CLAIM_NOT_FOUND",
        "IllegalTransition": "ILLEGAL_TRANSITION",
        "OwnersCharged": "OWNERS_CHARGED",
        "RequestConflict": "REQUEST_CONFLICT",
        "RoleNotAllowed": "ROLE_NOT_ALLOWED",
        "SecondApproverConflict": "SAME_PERSON_APPROVAL",
    }
    assert len(set(codes.values())) == len(codes)


def test_kinds():
    assert issubclass(errors.IllegalTransition, errors.PreconditionFailed)
    assert issubclass(errors.SecondApproverConflict, errors.PermissionDenied)
    assert issubclass(errors.RoleNotAllowed, errors.PermissionDenied)
    assert issubclass(errors.InvalidFields, errors.InvalidInput)
    assert issubclass(errors.InvalidInput, ValueError)


def test_invalid_fields_keeps_every_problem():
    e = errors.InvalidFields(
        [errors.InvalidValue("a", "bad a"), errors.InvalidValue("lines[1].quantity", "bad q")]
    )
    assert [p.field for p in e.problems] == ["a", "lines[1].quantity"]
    assert "lines[1].quantity: bad q" in e.message


def test_illegal_transition_says_state_and_action():
    e = errors.IllegalTransition("reported", "pay")
    assert (e.state, e.action, e.target) == ("reported", "pay", None)
    assert e.code == "ILLEGAL_TRANSITION"
