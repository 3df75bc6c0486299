import grpc
from google.rpc import error_details_pb2

from shared.errors import FieldViolation, Violations, invalid_argument


def test_invalid_argument_carries_every_field_violation_and_a_reason() -> None:
    status = invalid_argument(
        [FieldViolation("a", "bad"), FieldViolation("b.c", "worse")]
    ).to_status()
    assert status.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info, bad = error_details_pb2.ErrorInfo(), error_details_pb2.BadRequest()
    status.details[0].Unpack(info)
    status.details[1].Unpack(bad)
    assert info.reason == "INVALID_ARGUMENT"
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("a", "bad"),
        ("b.c", "worse"),
    ]


def test_violations_collect_before_raising() -> None:
    v = Violations()
    v.require(True, "ok", "never")
    v.require(False, "x", "required")
    v.add("y", "too long")
    try:
        v.raise_if_any()
    except Exception as error:
        assert [f.field for f in error.violations] == ["x", "y"]  # type: ignore[attr-defined]
    else:
        raise AssertionError("expected INVALID_ARGUMENT")
