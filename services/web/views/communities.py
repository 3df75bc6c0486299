"""The community pages: the user's region's communities, and one community's elevators with
their votes, policies and premium allocation per owner. Read-only; the policy service scopes
every call to the user's regions, so another region's community answers 403 (or 404)."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from aiohttp import web
from google.protobuf.message import Message

from elevins.policy.v1 import policy_pb2 as ppb
from services.web.clients import Caller
from services.web.context import TRANSLATOR
from services.web.domain.access import Capability
from services.web.domain.communities import (
    Check,
    Verdict,
    allocation,
    inspection_state,
    mask_id,
    natural_key,
    parse_explanation,
    parse_ratio,
)
from services.web.domain.formatting import SHANGHAI
from services.web.domain.i18n import Translator
from services.web.pages import render
from services.web.views.convert import when
from services.web.views.guard import caller, requires, upstreams

routes = web.RouteTableDef()

PAGE_SIZE = 50
# A community's elevators, votes and policies are read whole, a page of 500 at a time; a
# community of more than 5,000 of any is shown in part, and the page says so.
LIST_PAGE = 500
MAX_PAGES = 10
_VOTE_STATUS = {
    ppb.VOTE_STATUS_OPEN: "open",
    ppb.VOTE_STATUS_PASSED: "passed",
    ppb.VOTE_STATUS_FAILED: "failed",
}
_INSPECTION = {ppb.INSPECTION_RESULT_PASSED: "passed", ppb.INSPECTION_RESULT_FAILED: "failed"}
# The vote's four fractions, in the order the page shows them.
_TALLY = ("turnout_area", "turnout_headcount", "agree_area", "agree_headcount")

M = TypeVar("M", bound=Message)


@routes.get("/communities")
@requires(Capability.READ_CLAIMS)
async def communities(request: web.Request) -> web.StreamResponse:
    q = request.query
    region = q.get("region", "").strip()
    reply = await caller(request)(
        upstreams(request).policy.ListCommunities,
        ppb.ListCommunitiesRequest(
            region_prefix=region, page_size=PAGE_SIZE, page_token=q.get("page", "")
        ),
    )
    return render(
        request,
        "communities.html",
        rows=list(reply.communities),
        region=region,
        next_page=reply.next_page_token,
        request_page=q.get("page", ""),
        query_without_page=urlencode([(k, v) for k, v in q.items() if k != "page"]),
    )


@routes.get("/communities/{community_id}")
@requires(Capability.READ_CLAIMS)
async def community(request: web.Request) -> web.StreamResponse:
    community_id = request.match_info["community_id"]
    call = caller(request)
    policy = upstreams(request).policy
    # First the community itself: another region's answers 403 before anything else is read.
    summary = (
        await call(policy.GetCommunity, ppb.GetCommunityRequest(community_id=community_id))
    ).community
    (elevators, more_e), (votes, more_v), (policies, more_p) = await asyncio.gather(
        _every_page(
            call,
            policy.ListElevators,
            lambda token: ppb.ListElevatorsRequest(
                community_id=community_id, page_size=LIST_PAGE, page_token=token
            ),
            lambda reply: reply.elevators,
        ),
        _every_page(
            call,
            policy.ListVotes,
            lambda token: ppb.ListVotesRequest(
                community_id=community_id, page_size=LIST_PAGE, page_token=token
            ),
            lambda reply: reply.votes,
        ),
        _every_page(
            call,
            policy.ListPolicies,
            lambda token: ppb.ListPoliciesRequest(
                community_id=community_id, page_size=LIST_PAGE, page_token=token
            ),
            lambda reply: reply.policies,
        ),
    )
    t = request[TRANSLATOR]
    today = datetime.now(UTC).astimezone(SHANGHAI).date()
    votes_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for vote in votes:
        votes_of[vote.elevator_id].append(_vote_view(vote, t))
    policies_of: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in policies:
        policies_of[record.elevator_id].append(_policy_view(record, t))
    rows = [
        _elevator_view(
            e, votes_of.get(e.elevator_id, []), policies_of.get(e.elevator_id, []), today
        )
        for e in sorted(
            elevators,
            key=lambda e: natural_key(e.building, e.unit, e.spec.registration_code),
        )
    ]
    return render(
        request,
        "community.html",
        summary=summary,
        community=summary.community,
        rows=rows,
        truncated=more_e or more_v or more_p,
    )


async def _every_page(
    call: Caller,
    method: Callable[..., Awaitable[M]],
    page_request: Callable[[str], Message],
    items: Callable[[M], Any],
) -> tuple[list[Any], bool]:
    """Every item of a paged list, up to MAX_PAGES pages; True as well if there were more."""
    found: list[Any] = []
    token = ""
    for _ in range(MAX_PAGES):
        reply = await call(method, page_request(token))
        found += items(reply)
        token = reply.next_page_token  # type: ignore[attr-defined]
        if not token:
            return found, False
    return found, True


def _elevator_view(
    e: ppb.Elevator, votes: list[dict[str, Any]], policies: list[dict[str, Any]], today: date
) -> dict[str, Any]:
    """An elevator with its votes (newest first) and policies: the newest vote and the policy
    in force (else the newest) open, the earlier ones folded away."""
    result = _INSPECTION.get(e.last_inspection_result, "")
    in_force = [p for p in policies if p["policy"].policy_id == e.current_policy_id]
    primary = in_force[0] if in_force else (policies[0] if policies else None)
    return {
        "elevator": e,
        "inspection_result": result,
        "inspection": inspection_state(e.next_inspection_due_on, result, today),
        "vote": votes[0] if votes else None,
        "earlier_votes": votes[1:],
        "policy": primary,
        "other_policies": [p for p in policies if p is not primary],
    }


def _vote_view(vote: ppb.Vote, t: Translator) -> dict[str, Any]:
    tally = vote.tally
    return {
        "vote": vote,
        "status": _VOTE_STATUS.get(vote.status, "open"),
        "opened_at": when(vote.opened_at),
        "closed_at": when(vote.closed_at),
        "fractions": [(name, parse_ratio(getattr(tally, name))) for name in _TALLY]
        if vote.HasField("tally")
        else [],
        "explanation": [_explain(line, t) for line in vote.explanation],
    }


def _explain(line: str, t: Translator) -> dict[str, Any]:
    """A line of the vote's explanation in the reader's words, with the service's as a title."""
    parsed = parse_explanation(line)
    if isinstance(parsed, Check):
        text = t(
            "community.check",
            measure=t(f"community.measure.{parsed.measure}"),
            value=parsed.value,
            symbol=parsed.symbol,
            threshold=parsed.threshold,
            mark="✓" if parsed.met else "✗",
        )
        return {"text": text, "met": parsed.met, "original": line}
    if isinstance(parsed, Verdict):
        text = (
            t("community.verdict.passed", rule_set=parsed.rule_set, n=parsed.conditions)
            if parsed.passed
            else t(
                "community.verdict.failed",
                rule_set=parsed.rule_set,
                n=parsed.conditions,
                k=parsed.unmet,
            )
        )
        return {"text": text, "met": parsed.passed, "original": line}
    return {"text": line, "met": None, "original": line}


def _policy_view(policy: ppb.Policy, t: Translator) -> dict[str, Any]:
    funding = policy.funding
    lines = sorted(
        funding.lines, key=lambda ln: natural_key(ln.building, ln.unit, ln.number, ln.flat_id)
    )
    return {
        "policy": policy,
        "status": "active" if policy.status == ppb.POLICY_STATUS_ACTIVE else "cancelled",
        "starts_at": when(policy.starts_at),
        "ends_at": when(policy.ends_at),
        "cancelled_at": when(policy.cancelled_at),
        "lines": [
            {
                "flat": t("community.flat", building=ln.building, unit=ln.unit, number=ln.number)
                if ln.number
                else mask_id(ln.flat_id),
                "owner_id": mask_id(ln.owner_id),
                "owner_name": ln.owner_name_masked,
                "share_fen": ln.share_fen,
                "from_account_fen": ln.from_account_fen,
                "billed_cash_fen": ln.billed_cash_fen,
            }
            for ln in lines
        ],
        "totals": allocation(
            funding.premium_fen,
            funding.from_appreciation_fen,
            ((ln.share_fen, ln.from_account_fen, ln.billed_cash_fen) for ln in funding.lines),
        ),
    }
