"""Precise, rich gRPC errors.

Code raises :class:`ServiceError` (or one of the helpers below); the error interceptor turns it
into a ``google.rpc.Status`` with an ``ErrorInfo`` (a stable reason code) and, for bad input, a
``BadRequest`` listing every offending field. Anything else that escapes a handler is a bug and
becomes INTERNAL with no details leaked.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2

ERROR_DOMAIN = "elevins.cn"
# Status details travel in a trailer that gRPC limits to 16 KiB: say the first problems and
# how many more there are, rather than fail to say anything.
MAX_VIOLATIONS = 50


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


@dataclass
class ServiceError(Exception):
    """An expected failure with a precise status code and a stable reason."""

    code: grpc.StatusCode
    reason: str
    message: str
    violations: tuple[FieldViolation, ...] = field(default=())
    metadata: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.code.name} {self.reason}: {self.message}"

    def to_status(self) -> status_pb2.Status:
        details: list[any_pb2.Any] = []
        info = any_pb2.Any()
        info.Pack(
            error_details_pb2.ErrorInfo(
                reason=self.reason, domain=ERROR_DOMAIN, metadata=self.metadata
            )
        )
        details.append(info)
        if self.violations:
            shown = list(self.violations[:MAX_VIOLATIONS])
            if len(self.violations) > MAX_VIOLATIONS:
                more = len(self.violations) - MAX_VIOLATIONS
                shown.append(FieldViolation("request", f"… and {more} more problems"))
            bad_request = error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description[:500]
                    )
                    for v in shown
                ]
            )
            packed = any_pb2.Any()
            packed.Pack(bad_request)
            details.append(packed)
        return status_pb2.Status(
            code=_RPC_CODE[self.code], message=self.message[:2000], details=details
        )


def invalid_argument(
    violations: Iterable[FieldViolation], *, reason: str = "INVALID_ARGUMENT"
) -> ServiceError:
    found = tuple(violations)
    summary = "; ".join(f"{v.field}: {v.description}" for v in found)
    return ServiceError(grpc.StatusCode.INVALID_ARGUMENT, reason, summary, found)


def bad_field(
    field_name: str, description: str, *, reason: str = "INVALID_ARGUMENT"
) -> ServiceError:
    return invalid_argument([FieldViolation(field_name, description)], reason=reason)


def permission_denied(message: str, *, reason: str = "PERMISSION_DENIED") -> ServiceError:
    return ServiceError(grpc.StatusCode.PERMISSION_DENIED, reason, message)


def unauthenticated(message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.UNAUTHENTICATED, "UNAUTHENTICATED", message)


def already_exists(reason: str, message: str) -> ServiceError:
    return ServiceError(grpc.StatusCode.ALREADY_EXISTS, reason, message)


class Violations:
    """Collects every bad field of a request so the caller hears about all of them at once."""

    def __init__(self) -> None:
        self._found: list[FieldViolation] = []

    def add(self, field_name: str, description: str) -> None:
        self._found.append(FieldViolation(field_name, description))

    def require(self, condition: bool, field_name: str, description: str) -> None:
        if not condition:
            self.add(field_name, description)

    def __bool__(self) -> bool:
        return bool(self._found)

    def raise_if_any(self) -> None:
        if self._found:
            raise invalid_argument(self._found)


_RPC_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.OK: code_pb2.OK,
    grpc.StatusCode.CANCELLED: code_pb2.CANCELLED,
    grpc.StatusCode.UNKNOWN: code_pb2.UNKNOWN,
    grpc.StatusCode.INVALID_ARGUMENT: code_pb2.INVALID_ARGUMENT,
    grpc.StatusCode.DEADLINE_EXCEEDED: code_pb2.DEADLINE_EXCEEDED,
    grpc.StatusCode.NOT_FOUND: code_pb2.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS: code_pb2.ALREADY_EXISTS,
    grpc.StatusCode.PERMISSION_DENIED: code_pb2.PERMISSION_DENIED,
    grpc.StatusCode.RESOURCE_EXHAUSTED: code_pb2.RESOURCE_EXHAUSTED,
    grpc.StatusCode.FAILED_PRECONDITION: code_pb2.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED: code_pb2.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE: code_pb2.OUT_OF_RANGE,
    grpc.StatusCode.UNIMPLEMENTED: code_pb2.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL: code_pb2.INTERNAL,
    grpc.StatusCode.UNAVAILABLE: code_pb2.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS: code_pb2.DATA_LOSS,
    grpc.StatusCode.UNAUTHENTICATED: code_pb2.UNAUTHENTICATED,
}


def from_domain_error(exc: Exception) -> ServiceError | None:
    """A domain error as a precise status: its kind picks the code, its ``code`` is the stable
    reason, every bad field becomes a field violation. None for anything else (a bug)."""
    from shared import domain_errors as d

    if not isinstance(exc, d.DomainError):
        return None
    problems = exc.problems if isinstance(exc, d.InvalidFields) else (exc,)
    violations = tuple(FieldViolation(p.field, p.message) for p in problems if p.field)
    metadata = (
        {"reasons": ",".join(map(str, reasons))}
        if (reasons := getattr(exc, "reasons", None))
        else {}
    )
    for kind, code in (
        (d.InvalidInput, grpc.StatusCode.INVALID_ARGUMENT),
        (d.NotFound, grpc.StatusCode.NOT_FOUND),
        (d.PreconditionFailed, grpc.StatusCode.FAILED_PRECONDITION),
        (d.PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
        (d.Conflict, grpc.StatusCode.ALREADY_EXISTS),
    ):
        if isinstance(exc, kind):
            return ServiceError(code, exc.code, exc.message, violations, metadata)
    return None


@dataclass(frozen=True)
class ErrorDetails:
    """What a client reads back from a failed call (used by clients and tests)."""

    code: grpc.StatusCode
    message: str
    reason: str
    violations: tuple[FieldViolation, ...]


def details_of(error: grpc.RpcError) -> ErrorDetails:
    """Decode the rich status of a failed call."""
    from grpc_status import rpc_status

    code: grpc.StatusCode = error.code()
    message: str = error.details() or ""
    reason = ""
    violations: list[FieldViolation] = []
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                reason = info.reason
            elif detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                detail.Unpack(bad)
                violations += [FieldViolation(v.field, v.description) for v in bad.field_violations]
    return ErrorDetails(code, message, reason, tuple(violations))
