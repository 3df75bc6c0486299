"""The kinds of failure every service's pure domain raises.

Each error carries a stable ``code`` (never renamed, never reused) and, where one argument is
at fault, the ``field`` it came from. The kind says how the gRPC layer answers, so it maps any
service's errors without knowing them (``shared.errors.from_domain_error``):

- ``InvalidInput``        → INVALID_ARGUMENT (a field violation per bad field)
- ``PreconditionFailed``  → FAILED_PRECONDITION (the request is well formed, the state is wrong)
- ``NotFound``            → NOT_FOUND
- ``Conflict``            → ALREADY_EXISTS (an idempotency key reused with another payload)
- ``PermissionDenied``    → PERMISSION_DENIED (this person or role may not do this)

``InvalidInput`` is also a ``ValueError``, so plain Python callers can catch it as one.
Pure: imports nothing but the standard library.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class DomainError(Exception):
    code: ClassVar[str] = "DOMAIN_ERROR"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(DomainError, ValueError):
    code = "INVALID_INPUT"


class PreconditionFailed(DomainError):
    code = "FAILED_PRECONDITION"


class NotFound(DomainError):
    code = "NOT_FOUND"


class Conflict(DomainError):
    code = "CONFLICT"


class PermissionDenied(DomainError):
    code = "PERMISSION_DENIED"


class InvalidValue(InvalidInput):
    """One value out of its domain: a naive datetime, a negative amount, an empty id."""

    code = "INVALID_VALUE"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)
        self.reason = reason


class InvalidFields(InvalidInput):
    """Several fields of one input are wrong: the caller hears of all of them at once."""

    code = "INVALID_FIELDS"

    def __init__(self, problems: Sequence[InvalidInput]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = tuple(problems)
