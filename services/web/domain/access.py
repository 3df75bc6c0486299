"""Who may open which page and press which button.

The services check every call again with the user's own token (roles per RPC, regions and
contractor per object): this table only decides what the UI offers and which URLs answer 403
before any call is made, so a contractor who types an adjuster's URL meets a clear refusal
instead of a half-rendered page.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """The people who sign in: the services' roles (``shared.auth.Role``, which this pure
    module may not import) less partners and services, who never do."""

    ADJUSTER = "adjuster"
    SENIOR_REVIEWER = "senior_reviewer"
    SUPERVISOR = "supervisor"
    CONTRACTOR = "contractor"
    AUDITOR = "auditor"


class Capability(StrEnum):
    READ_CLAIMS = "read_claims"  # the queue, claim pages, dashboards, communities
    DECIDE = "decide"  # first decision: approve, approve in part, reject, request evidence
    SECOND_REVIEW = "second_review"
    READ_CONTRACTORS = "read_contractors"  # scorecards and the black/white list
    CONTRACTOR_WORK = "contractor_work"  # my jobs: arrival, quote, uploads, repaired
    REQUEST_OVERRIDE = "request_override"  # ask for a list status set by hand
    APPROVE_OVERRIDE = "approve_override"  # the second person's yes to such a request


_INSURER_READERS = {Role.ADJUSTER, Role.SENIOR_REVIEWER, Role.SUPERVISOR, Role.AUDITOR}

CAPABILITIES: dict[Capability, frozenset[Role]] = {
    Capability.READ_CLAIMS: frozenset(_INSURER_READERS),
    Capability.DECIDE: frozenset({Role.ADJUSTER, Role.SENIOR_REVIEWER, Role.SUPERVISOR}),
    Capability.SECOND_REVIEW: frozenset({Role.SENIOR_REVIEWER, Role.SUPERVISOR}),
    Capability.READ_CONTRACTORS: frozenset(_INSURER_READERS),
    Capability.CONTRACTOR_WORK: frozenset({Role.CONTRACTOR}),
    # As the contractors service allows (it checks again, and refuses the requester's own yes).
    Capability.REQUEST_OVERRIDE: frozenset({Role.SENIOR_REVIEWER, Role.SUPERVISOR}),
    Capability.APPROVE_OVERRIDE: frozenset({Role.SUPERVISOR}),
}


def may(role: Role, capability: Capability) -> bool:
    return role in CAPABILITIES[capability]


def home_path(role: Role) -> str:
    """Where a user lands after signing in: contractors on their jobs, everyone else the queue."""
    return "/jobs" if role is Role.CONTRACTOR else "/queue"
