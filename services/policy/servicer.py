"""Protobuf ⇄ domain for the policy service: roles, field checks, status codes. No rules here."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from fractions import Fraction
from functools import partial
from typing import TypeVar

from google.protobuf.message import Message

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from services.policy.domain.errors import (
    InvalidFields,
    InvalidInput,
)
from services.policy.domain.funding import FundingLine
from services.policy.domain.inspections import InspectionResult
from services.policy.domain.products import Product, parse_peril
from services.policy.domain.registry import (
    Community,
    Elevator,
    FlatRecord,
    parse_date,
    parse_elevator_spec,
    parse_flat,
    validate_region_code,
)
from services.policy.domain.voting import Ballot, four_places
from services.policy.store import (
    CommunitySummary,
    PolicyRecord,
    PolicyStore,
    VoteRecord,
    new_id,
)
from services.policy.usecases import LimitPosition, PolicyUseCases
from shared.auth import Role, require_role
from shared.errors import (
    FieldViolation,
    Violations,
    invalid_argument,
)
from shared.logs import mask_name
from shared.outbox import event_fields, parse_page_request
from shared.timestamps import from_timestamp, to_timestamp

M = TypeVar("M", bound=Message)

# Who may call what. Region scoping is checked on every object in usecases.
REGISTRARS = (Role.SERVICE, Role.PARTNER, Role.SUPERVISOR)
UNDERWRITERS = (Role.SERVICE, Role.SUPERVISOR)
READERS = (
    Role.SERVICE,
    Role.PARTNER,
    Role.SUPERVISOR,
    Role.ADJUSTER,
    Role.SENIOR_REVIEWER,
    Role.AUDITOR,
)
# The insurer's own overviews (every community of a region with its fund balance, policies and
# ledger figures): not for partners, whose property manager or bureau sees one community's side.
INSURER_READERS = (
    Role.SERVICE,
    Role.SUPERVISOR,
    Role.ADJUSTER,
    Role.SENIOR_REVIEWER,
    Role.AUDITOR,
)
LEDGER = (Role.SERVICE,)

_BALLOTS = {
    pb.BALLOT_CHOICE_AGREE: Ballot.AGREE,
    pb.BALLOT_CHOICE_DISAGREE: Ballot.DISAGREE,
    pb.BALLOT_CHOICE_ABSTAIN: Ballot.ABSTAIN,
}
_BALLOTS_PB = {v: k for k, v in _BALLOTS.items()}
_INSPECTIONS = {
    pb.INSPECTION_RESULT_PASSED: InspectionResult.PASSED,
    pb.INSPECTION_RESULT_FAILED: InspectionResult.FAILED,
}
_INSPECTIONS_PB = {v: k for k, v in _INSPECTIONS.items()}
_VOTE_STATUS = {
    "open": pb.VOTE_STATUS_OPEN,
    "passed": pb.VOTE_STATUS_PASSED,
    "failed": pb.VOTE_STATUS_FAILED,
}
MAX_PAGE = 500
DEFAULT_PAGE = 100
_REGION_PREFIX = re.compile(r"[1-8]\d{0,5}")


class PolicyServicer(policy_pb2_grpc.PolicyServiceServicer):
    def __init__(self, usecases: PolicyUseCases) -> None:
        self.uc = usecases

    # ------------------------------------------------------------ registry

    async def RegisterCommunity(
        self, request: pb.RegisterCommunityRequest, context: object
    ) -> pb.RegisterCommunityResponse:
        require_role(*REGISTRARS)
        v = Violations()
        _check(v, lambda: validate_region_code(request.region_code))
        v.require(bool(request.name.strip()), "name", "required")
        v.require(
            request.appreciation_balance_fen >= 0,
            "appreciation_balance_fen",
            "must not be negative",
        )
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.RegisterCommunityResponse:
            community = await self.uc.register_community(
                store,
                region_code=request.region_code,
                name=request.name.strip(),
                appreciation_balance_fen=request.appreciation_balance_fen,
            )
            return pb.RegisterCommunityResponse(community=community_pb(community))

        return await self.uc.write("RegisterCommunity", request, pb.RegisterCommunityResponse, work)

    async def RegisterFlats(
        self, request: pb.RegisterFlatsRequest, context: object
    ) -> pb.RegisterFlatsResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(request.community_id), "community_id", "required")
        v.require(len(request.flats) > 0, "flats", "at least one flat")
        v.require(len(request.flats) <= 5000, "flats", "at most 5000 flats per call")
        records: list[FlatRecord] = []
        for index, flat in enumerate(request.flats):
            parsed = _check(v, partial(_flat_record, request.community_id, flat, index))
            if parsed is not None:
                records.append(parsed)
        keys = [(r.building, r.unit, r.number) for r in records]
        v.require(len(set(keys)) == len(keys), "flats", "the same flat is listed twice")
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.RegisterFlatsResponse:
            stored = await self.uc.register_flats(
                store, community_id=request.community_id, records=records
            )
            return pb.RegisterFlatsResponse(flats=[flat_pb(f) for f in stored])

        return await self.uc.write("RegisterFlats", request, pb.RegisterFlatsResponse, work)

    async def RegisterElevator(
        self, request: pb.RegisterElevatorRequest, context: object
    ) -> pb.RegisterElevatorResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(request.community_id), "community_id", "required")
        v.require(bool(request.building.strip()), "building", "required")
        v.require(bool(request.unit.strip()), "unit", "required")
        s = request.spec
        spec = _check(
            v,
            lambda: parse_elevator_spec(
                registration_code=s.registration_code,
                equipment_code=s.equipment_code,
                brand=s.brand,
                landings=s.landings,
                rope_count=s.rope_count,
                rope_length_m=s.rope_length_m,
                motor_kw=s.motor_kw,
                installed_on=s.installed_on,
            ),
        )
        v.raise_if_any()
        assert spec is not None

        async def work(store: PolicyStore) -> pb.RegisterElevatorResponse:
            elevator = await self.uc.register_elevator(
                store,
                community_id=request.community_id,
                building=request.building.strip(),
                unit=request.unit.strip(),
                spec=spec,
                served_flat_ids=list(request.served_flat_ids),
            )
            return pb.RegisterElevatorResponse(elevator=elevator_pb(elevator))

        return await self.uc.write("RegisterElevator", request, pb.RegisterElevatorResponse, work)

    async def RecordInspection(
        self, request: pb.RecordInspectionRequest, context: object
    ) -> pb.RecordInspectionResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(request.elevator_id), "elevator_id", "required")
        inspected_on = _check(v, lambda: parse_date(request.inspected_on, field="inspected_on"))
        next_due = (
            _check(v, lambda: parse_date(request.next_due_on, field="next_due_on"))
            if request.next_due_on
            else None
        )
        result = _INSPECTIONS.get(request.result)
        v.require(result is not None, "result", "PASSED or FAILED")
        if inspected_on and next_due and next_due <= inspected_on:
            v.add("next_due_on", "must be after inspected_on")
        v.raise_if_any()
        assert inspected_on is not None and result is not None

        async def work(store: PolicyStore) -> pb.RecordInspectionResponse:
            elevator = await self.uc.record_inspection(
                store,
                elevator_id=request.elevator_id,
                inspected_on=inspected_on,
                result=result,
                next_due_on=next_due,
            )
            return pb.RecordInspectionResponse(elevator=elevator_pb(elevator))

        return await self.uc.write("RecordInspection", request, pb.RecordInspectionResponse, work)

    async def GetElevator(
        self, request: pb.GetElevatorRequest, context: object
    ) -> pb.GetElevatorResponse:
        require_role(*READERS)
        key = request.WhichOneof("key")
        if key is None:
            raise invalid_argument([FieldViolation("key", "elevator_id or registration_code")])

        async def work(store: PolicyStore) -> Elevator:
            if key == "elevator_id":
                return await self.uc.get_elevator(store, request.elevator_id)
            return await self.uc.elevator_by_registration(store, request.registration_code)

        return pb.GetElevatorResponse(elevator=elevator_pb(await self.uc.read(work)))

    async def ListElevators(
        self, request: pb.ListElevatorsRequest, context: object
    ) -> pb.ListElevatorsResponse:
        require_role(*READERS)
        v = Violations()
        size = _page_size(request.page_size, v)
        v.raise_if_any()
        found = await self.uc.read(
            lambda store: self.uc.list_elevators(
                store,
                community_id=request.community_id,
                after_id=request.page_token,
                limit=size + 1,
            )
        )
        page = found[:size]
        return pb.ListElevatorsResponse(
            elevators=[elevator_pb(e) for e in page],
            next_page_token=page[-1].elevator_id if len(found) > size else "",
        )

    async def ListCommunities(
        self, request: pb.ListCommunitiesRequest, context: object
    ) -> pb.ListCommunitiesResponse:
        require_role(*INSURER_READERS)
        v = Violations()
        size = _page_size(request.page_size, v)
        v.require(
            not request.region_prefix or bool(_REGION_PREFIX.fullmatch(request.region_prefix)),
            "region_prefix",
            "1 to 6 digits of a GB/T 2260 code, e.g. 4302",
        )
        after = _page_key(request.page_token, v)
        v.raise_if_any()
        found = await self.uc.read(
            lambda store: self.uc.list_communities(
                store,
                region_prefix=request.region_prefix,
                after=(after[0], after[1]) if after else None,
                limit=size + 1,
            )
        )
        page = found[:size]
        last = page[-1].community if page else None
        return pb.ListCommunitiesResponse(
            communities=[community_summary_pb(c) for c in page],
            next_page_token=_key_token(last.region_code, last.name)
            if last and len(found) > size
            else "",
        )

    async def GetCommunity(
        self, request: pb.GetCommunityRequest, context: object
    ) -> pb.GetCommunityResponse:
        require_role(*INSURER_READERS)
        _required(request.community_id, "community_id")
        summary = await self.uc.read(lambda s: self.uc.community_summary(s, request.community_id))
        return pb.GetCommunityResponse(community=community_summary_pb(summary))

    # ------------------------------------------------------------ votes

    async def ListVoteRuleSets(
        self, request: pb.ListVoteRuleSetsRequest, context: object
    ) -> pb.ListVoteRuleSetsResponse:
        require_role(*READERS)
        return pb.ListVoteRuleSetsResponse(
            rule_sets=[
                pb.VoteRuleSet(name=r.name, version=r.version, description=r.description)
                for r in sorted(self.uc.rule_sets.values(), key=lambda r: r.key)
            ]
        )

    async def OpenVote(self, request: pb.OpenVoteRequest, context: object) -> pb.OpenVoteResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(request.elevator_id), "elevator_id", "required")
        v.require(bool(request.rule_set), "rule_set", "required, e.g. civil_code_2021_art278")
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.OpenVoteResponse:
            vote = await self.uc.open_vote(
                store, elevator_id=request.elevator_id, rule_set=request.rule_set
            )
            return pb.OpenVoteResponse(vote=vote_pb(vote))

        return await self.uc.write("OpenVote", request, pb.OpenVoteResponse, work)

    async def CastBallots(
        self, request: pb.CastBallotsRequest, context: object
    ) -> pb.CastBallotsResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(request.vote_id), "vote_id", "required")
        v.require(len(request.ballots) > 0, "ballots", "at least one ballot")
        cast: list[tuple[str, Ballot]] = []
        for index, ballot in enumerate(request.ballots):
            choice = _BALLOTS.get(ballot.choice)
            v.require(bool(ballot.owner_id), f"ballots[{index}].owner_id", "required")
            v.require(choice is not None, f"ballots[{index}].choice", "AGREE, DISAGREE or ABSTAIN")
            if choice is not None:
                cast.append((ballot.owner_id, choice))
        owners = [owner for owner, _ in cast]
        v.require(len(set(owners)) == len(owners), "ballots", "one ballot per owner per call")
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.CastBallotsResponse:
            vote = await self.uc.cast_ballots(store, vote_id=request.vote_id, cast=cast)
            return pb.CastBallotsResponse(vote=vote_pb(vote))

        return await self.uc.write("CastBallots", request, pb.CastBallotsResponse, work)

    async def CloseVote(
        self, request: pb.CloseVoteRequest, context: object
    ) -> pb.CloseVoteResponse:
        require_role(*REGISTRARS)
        _required(request.vote_id, "vote_id")

        async def work(store: PolicyStore) -> pb.CloseVoteResponse:
            return pb.CloseVoteResponse(
                vote=vote_pb(await self.uc.close_vote(store, vote_id=request.vote_id))
            )

        return await self.uc.write("CloseVote", request, pb.CloseVoteResponse, work)

    async def GetVote(self, request: pb.GetVoteRequest, context: object) -> pb.GetVoteResponse:
        require_role(*READERS)
        _required(request.vote_id, "vote_id")
        return pb.GetVoteResponse(
            vote=vote_pb(await self.uc.read(lambda s: self.uc.get_vote(s, request.vote_id)))
        )

    async def ListVotes(
        self, request: pb.ListVotesRequest, context: object
    ) -> pb.ListVotesResponse:
        require_role(*INSURER_READERS)
        page, token = await self._newest_first(
            request, self.uc.list_votes, lambda vote: (vote.opened_at, vote.vote_id)
        )
        return pb.ListVotesResponse(votes=[vote_pb(v) for v in page], next_page_token=token)

    # ------------------------------------------------------------ policies

    async def ListProducts(
        self, request: pb.ListProductsRequest, context: object
    ) -> pb.ListProductsResponse:
        require_role(*READERS)
        return pb.ListProductsResponse(
            products=[product_pb(p) for _, p in sorted(self.uc.products.items())]
        )

    async def IssuePolicy(
        self, request: pb.IssuePolicyRequest, context: object
    ) -> pb.IssuePolicyResponse:
        require_role(*UNDERWRITERS)
        v = Violations()
        v.require(bool(request.elevator_id), "elevator_id", "required")
        v.require(bool(request.product_code), "product_code", "required")
        starts_at = from_timestamp(request.starts_at, "starts_at", v)
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.IssuePolicyResponse:
            record = await self.uc.issue_policy(
                store,
                elevator_id=request.elevator_id,
                product_code=request.product_code,
                starts_at=starts_at,
            )
            return pb.IssuePolicyResponse(policy=policy_pb(record))

        return await self.uc.write("IssuePolicy", request, pb.IssuePolicyResponse, work)

    async def GetPolicy(
        self, request: pb.GetPolicyRequest, context: object
    ) -> pb.GetPolicyResponse:
        require_role(*READERS)
        _required(request.policy_id, "policy_id")
        record = await self.uc.read(lambda s: self.uc.get_policy(s, request.policy_id))
        return pb.GetPolicyResponse(policy=policy_pb(record))

    async def ListPolicies(
        self, request: pb.ListPoliciesRequest, context: object
    ) -> pb.ListPoliciesResponse:
        require_role(*INSURER_READERS)
        page, token = await self._newest_first(
            request, self.uc.list_policies, lambda r: (r.policy.start, r.policy.policy_id)
        )
        return pb.ListPoliciesResponse(policies=[policy_pb(r) for r in page], next_page_token=token)

    async def RenewPolicy(
        self, request: pb.RenewPolicyRequest, context: object
    ) -> pb.RenewPolicyResponse:
        require_role(*UNDERWRITERS)
        _required(request.policy_id, "policy_id")

        async def work(store: PolicyStore) -> pb.RenewPolicyResponse:
            return pb.RenewPolicyResponse(
                policy=policy_pb(await self.uc.renew_policy(store, policy_id=request.policy_id))
            )

        return await self.uc.write("RenewPolicy", request, pb.RenewPolicyResponse, work)

    async def CancelPolicy(
        self, request: pb.CancelPolicyRequest, context: object
    ) -> pb.CancelPolicyResponse:
        require_role(*UNDERWRITERS)
        v = Violations()
        v.require(bool(request.policy_id), "policy_id", "required")
        v.require(
            bool(request.reason.strip()), "reason", "required: say why the policy is cancelled"
        )
        effective_at = from_timestamp(request.effective_at, "effective_at", v)
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.CancelPolicyResponse:
            record = await self.uc.cancel_policy(
                store,
                policy_id=request.policy_id,
                reason=request.reason.strip(),
                effective_at=effective_at,
            )
            return pb.CancelPolicyResponse(policy=policy_pb(record))

        return await self.uc.write("CancelPolicy", request, pb.CancelPolicyResponse, work)

    async def _newest_first(
        self,
        request: pb.ListVotesRequest | pb.ListPoliciesRequest,
        fetch: Callable[..., Awaitable[list[T]]],
        sort_key: Callable[[T], tuple[datetime, str]],
    ) -> tuple[list[T], str]:
        """A page of an elevator's or a community's votes or policies, and the next page's
        token: the (time, id) key of the page's last row."""
        v = Violations()
        elevator_id, community_id = _parent(request, v)
        size = _page_size(request.page_size, v)
        before = _time_key(request.page_token, v)
        v.raise_if_any()
        found = await self.uc.read(
            lambda store: fetch(
                store,
                elevator_id=elevator_id,
                community_id=community_id,
                before=before,
                limit=size + 1,
            )
        )
        page = found[:size]
        if len(found) <= size:
            return page, ""
        at, last_id = sort_key(page[-1])
        return page, _key_token(at.isoformat(), last_id)

    # ------------------------------------------------------------ coverage and limits

    async def CheckCoverage(
        self, request: pb.CheckCoverageRequest, context: object
    ) -> pb.CheckCoverageResponse:
        require_role(*READERS)
        v = Violations()
        v.require(bool(request.registration_code), "registration_code", "required")
        loss_time = from_timestamp(request.loss_time, "loss_time", v)
        v.require(loss_time is not None, "loss_time", "required")
        peril = _check(v, lambda: parse_peril(request.peril))
        v.raise_if_any()
        assert loss_time is not None and peril is not None
        decision, record = await self.uc.read(
            lambda s: self.uc.check_coverage(
                s,
                registration_code=request.registration_code,
                loss_time=loss_time,
                peril=peril,
            )
        )
        product = record.policy.product if record else None
        return pb.CheckCoverageResponse(
            covered=decision.covered,
            reasons=[pb.CoverageReason(code=r.value, explanation=r.en) for r in decision.reasons],
            policy=policy_pb(record) if record else None,
            remaining_fen=decision.remaining_fen,
            per_claim_limit_fen=product.per_claim_limit_fen if product else 0,
            deductible_fen=product.deductible_fen if product else 0,
        )

    async def ReserveLimit(
        self, request: pb.ReserveLimitRequest, context: object
    ) -> pb.ReserveLimitResponse:
        require_role(*LEDGER)
        v = Violations()
        v.require(bool(request.claim_id), "claim_id", "required")
        v.require(bool(request.policy_id), "policy_id", "required")
        v.require(request.amount_fen > 0, "amount_fen", "must be positive")
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.ReserveLimitResponse:
            position = await self.uc.reserve_limit(
                store,
                claim_id=request.claim_id,
                policy_id=request.policy_id,
                amount_fen=request.amount_fen,
            )
            return pb.ReserveLimitResponse(position=position_pb(position))

        # The claim id is the idempotency key of the ledger (see usecases.reserve_limit).
        return await self.uc.transaction(work)

    async def ReleaseLimit(
        self, request: pb.ReleaseLimitRequest, context: object
    ) -> pb.ReleaseLimitResponse:
        require_role(*LEDGER)
        _required(request.claim_id, "claim_id")

        async def work(store: PolicyStore) -> pb.ReleaseLimitResponse:
            return pb.ReleaseLimitResponse(
                position=position_pb(await self.uc.release_limit(store, claim_id=request.claim_id))
            )

        return await self.uc.transaction(work)

    async def PayLimit(self, request: pb.PayLimitRequest, context: object) -> pb.PayLimitResponse:
        require_role(*LEDGER)
        v = Violations()
        v.require(bool(request.claim_id), "claim_id", "required")
        v.require(request.amount_fen >= 0, "amount_fen", "must not be negative")
        v.raise_if_any()

        async def work(store: PolicyStore) -> pb.PayLimitResponse:
            position = await self.uc.pay_limit(
                store, claim_id=request.claim_id, amount_fen=request.amount_fen
            )
            return pb.PayLimitResponse(position=position_pb(position))

        return await self.uc.transaction(work)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: object
    ) -> pb.ListEventsResponse:
        require_role(Role.SERVICE, Role.AUDITOR)
        xid, last_id, limit = parse_page_request(request.after_cursor, request.limit)

        async def work(store: PolicyStore) -> pb.ListEventsResponse:
            page = await store.events_after(xid, last_id, limit, request.after_cursor)
            return pb.ListEventsResponse(
                events=[pb.Event(**event_fields(e)) for e in page.events],
                next_cursor=page.next_cursor,
            )

        return await self.uc.read(work)


# ---------------------------------------------------------------- helpers

T = TypeVar("T")


def _check(violations: Violations, parse: Callable[[], T]) -> T | None:
    """Run a domain parser, turning its InvalidInput into a field violation."""
    try:
        return parse()
    except InvalidInput as exc:
        for problem in exc.problems if isinstance(exc, InvalidFields) else (exc,):
            violations.add(problem.field or "request", problem.message)
        return None


def _flat_record(community_id: str, flat: pb.FlatInput, index: int) -> FlatRecord:
    return parse_flat(
        flat_id=new_id("flt"),
        community_id=community_id,
        building=flat.building,
        unit=flat.unit,
        number=flat.number,
        area_text=flat.floor_area_m2,
        owner_id=flat.owner_id,
        owner_name=flat.owner_name,
        fund_balance_fen=flat.fund_balance_fen if flat.HasField("fund_balance_fen") else None,
        index=index,
    )


def _required(value: str, field: str) -> None:
    if not value:
        raise invalid_argument([FieldViolation(field, "required")])


def _page_size(requested: int, violations: Violations) -> int:
    violations.require(0 <= requested <= MAX_PAGE, "page_size", f"0 to {MAX_PAGE}")
    return requested or DEFAULT_PAGE


def _parent(
    request: pb.ListVotesRequest | pb.ListPoliciesRequest, violations: Violations
) -> tuple[str | None, str | None]:
    """(elevator_id, community_id): exactly one is set."""
    which = request.WhichOneof("parent")
    if which == "elevator_id" and request.elevator_id:
        return request.elevator_id, None
    if which == "community_id" and request.community_id:
        return None, request.community_id
    violations.add(which or "parent", "required: elevator_id or community_id")
    return None, None


# Keyset page tokens: the sort key of the last row of a page, opaque to the caller (base64 of
# a JSON list), so a page never skips or repeats a row when rows are added meanwhile.


def _key_token(*parts: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode().rstrip("=")


def _page_key(token: str, violations: Violations) -> list[str] | None:
    if not token:
        return None
    try:
        parts = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except ValueError:  # bad base64, bad UTF-8 or bad JSON
        parts = None
    if isinstance(parts, list) and len(parts) == 2 and all(isinstance(p, str) for p in parts):
        return parts
    violations.add("page_token", "not a token from this call")
    return None


def _time_key(token: str, violations: Violations) -> tuple[datetime, str] | None:
    parts = _page_key(token, violations)
    if parts is None:
        return None
    try:
        at = datetime.fromisoformat(parts[0])
    except ValueError:
        at = None
    if at is None or at.tzinfo is None:
        violations.add("page_token", "not a token from this call")
        return None
    return at, parts[1]


def community_pb(c: Community) -> pb.Community:
    return pb.Community(
        community_id=c.community_id,
        region_code=c.region_code,
        name=c.name,
        appreciation_balance_fen=c.appreciation_balance_fen,
    )


def community_summary_pb(summary: CommunitySummary) -> pb.CommunitySummary:
    return pb.CommunitySummary(
        community=community_pb(summary.community),
        elevator_count=summary.elevator_count,
        insured_elevator_count=summary.insured_elevator_count,
    )


def flat_pb(f: FlatRecord) -> pb.Flat:
    return pb.Flat(
        flat_id=f.flat_id,
        building=f.building,
        unit=f.unit,
        number=f.number,
        floor_area_m2=str(f.area),
        owner_id=f.owner_id,
        owner_name_masked=mask_name(f.owner_name),
        fund_balance_fen=f.fund_balance_fen,
    )


def elevator_pb(e: Elevator) -> pb.Elevator:
    s = e.spec
    message = pb.Elevator(
        elevator_id=e.elevator_id,
        community_id=e.community_id,
        region_code=e.region_code,
        building=e.building,
        unit=e.unit,
        spec=pb.ElevatorSpec(
            registration_code=s.registration_code,
            equipment_code=s.equipment_code,
            brand=s.brand,
            landings=s.landings,
            rope_count=s.rope_count,
            rope_length_m=str(s.rope_length_m),
            motor_kw=str(s.motor_kw),
            installed_on=s.installed_on.isoformat() if s.installed_on else "",
        ),
        served_flat_ids=list(e.served_flat_ids),
        current_policy_id=e.current_policy_id or "",
    )
    if e.inspection is not None:
        message.last_inspection_on = e.inspection.inspected_on.isoformat()
        message.last_inspection_result = _INSPECTIONS_PB[e.inspection.result]
        message.next_inspection_due_on = e.inspection.next_due_on.isoformat()
    return message


def vote_pb(vote: VoteRecord) -> pb.Vote:
    tally = None
    if vote.tally:
        t = vote.tally
        tally = pb.VoteTally(
            turnout_area=_ratio(t["turnout_area"]),
            turnout_headcount=_ratio(t["turnout_headcount"]),
            agree_area=_ratio(t["agree_area"]),
            agree_headcount=_ratio(t["agree_headcount"]),
            electorate_headcount=t["electorate_headcount"],
            electorate_area_m2=t["electorate_area_m2"],
        )
    return pb.Vote(
        vote_id=vote.vote_id,
        elevator_id=vote.elevator_id,
        rule_set=vote.rule_set,
        rule_set_version=vote.rule_set_version,
        status=_VOTE_STATUS[vote.status],
        ballots=[pb.Ballot(owner_id=o, choice=_BALLOTS_PB[c]) for o, c in vote.ballots.items()],
        tally=tally,
        explanation=vote.explanation or [],
        opened_at=to_timestamp(vote.opened_at),
        closed_at=to_timestamp(vote.closed_at),
    )


def _ratio(exact: str) -> str:
    """ "2/3 (0.6667)": exact for machines, four places for people."""
    return f"{exact} ({four_places(Fraction(exact))})"


def product_pb(p: Product) -> pb.Product:
    return pb.Product(
        code=p.code,
        name=p.name,
        annual_premium_fen=p.annual_premium_fen,
        sum_insured_fen=p.sum_insured_fen,
        per_claim_limit_fen=p.per_claim_limit_fen,
        deductible_fen=p.deductible_fen,
        covered_perils=sorted(p.covered_perils),
        exclusions=sorted(p.exclusions),
    )


def policy_pb(record: PolicyRecord) -> pb.Policy:
    p = record.policy
    return pb.Policy(
        policy_id=p.policy_id,
        elevator_id=p.elevator_id,
        product=product_pb(p.product),
        starts_at=to_timestamp(p.start),
        ends_at=to_timestamp(p.end),
        status=pb.POLICY_STATUS_ACTIVE
        if p.status.value == "active"
        else pb.POLICY_STATUS_CANCELLED,
        cancelled_at=to_timestamp(p.cancelled_at),
        premium_fen=p.premium_fen,
        refund_fen=p.refund_fen,
        funding=pb.FundingPlan(
            premium_fen=record.funding.premium_fen,
            from_appreciation_fen=record.funding.from_appreciation_fen,
            lines=[funding_line_pb(record, ln) for ln in record.funding.lines],
        ),
        reserved_fen=record.reserved_fen,
        paid_fen=record.paid_fen,
        remaining_fen=record.remaining_fen,
        renewed_from_policy_id=p.renewed_from or "",
    )


def funding_line_pb(record: PolicyRecord, line: FundingLine) -> pb.FundingLine:
    message = pb.FundingLine(
        flat_id=line.flat_id,
        owner_id=line.owner_id,
        share_fen=line.share_fen,
        from_account_fen=line.from_account_fen,
        billed_cash_fen=line.billed_cash_fen,
    )
    flat = record.flats.get(line.flat_id)
    if flat is not None:
        message.building, message.unit, message.number = flat.building, flat.unit, flat.number
        # The name of today's owner would be the wrong person on a line charged to a former one.
        if flat.owner_id == line.owner_id:
            message.owner_name_masked = mask_name(flat.owner_name)
    return message


def position_pb(position: LimitPosition) -> pb.LimitPosition:
    e, record = position.entry, position.policy
    return pb.LimitPosition(
        policy_id=e.policy_id,
        claim_id=e.claim_id,
        claim_reserved_fen=e.reserved_fen if e.state == "reserved" else 0,
        claim_paid_fen=e.paid_fen,
        sum_insured_fen=record.policy.product.sum_insured_fen,
        reserved_fen=record.reserved_fen,
        paid_fen=record.paid_fen,
        remaining_fen=record.remaining_fen,
    )
