"""The policy service's operations: one transaction each, authorisation by region inside.

Writes run inside :meth:`PolicyUseCases.idempotent` (one unit of work keyed by the caller's
request id); reads inside :meth:`PolicyUseCases.read`. Business rules live in ``domain``; this
module loads facts, calls the rules and stores the result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from services.policy.domain.codes import normalise_registration_code
from services.policy.domain.coverage import CoverageDecision, check_coverage
from services.policy.domain.errors import (
    ClaimConflict,
    EmptyElectorate,
    InvalidValue,
    LimitExceeded,
    NoReservation,
    NotFound,
    PaymentExceedsReservation,
    PerClaimLimitExceeded,
    PreconditionFailed,
    ReservationClosed,
)
from services.policy.domain.funding import FundingPlan, plan_funding
from services.policy.domain.inspections import InspectionFacts, InspectionResult, default_next_due
from services.policy.domain.policies import Policy, cancel, issue_policy, renew
from services.policy.domain.products import Peril, Product, find_product
from services.policy.domain.registry import Community, Elevator, ElevatorSpec, FlatRecord
from services.policy.domain.times import china_date
from services.policy.domain.voting import Ballot, RuleSet, decide_vote, select_rule_set
from services.policy.store import (
    CommunitySummary,
    LimitEntryRecord,
    PolicyRecord,
    PolicyStore,
    VoteRecord,
    new_id,
)
from shared.auth import ALL_REGIONS, current_principal, require_region
from shared.clock import Clock
from shared.unit_of_work import Transactions


class ElevatorNotFound(NotFound):
    code = "ELEVATOR_NOT_FOUND"


class DuplicateElevator(PreconditionFailed):
    code = "ELEVATOR_ALREADY_REGISTERED"


class PolicyOverlap(PreconditionFailed):
    code = "POLICY_OVERLAPS"


class VoteNotOpen(PreconditionFailed):
    code = "VOTE_NOT_OPEN"


class VoteAlreadyOpen(PreconditionFailed):
    code = "VOTE_ALREADY_OPEN"


class FundsChanged(PreconditionFailed):
    code = "FUNDS_CHANGED"


@dataclass(frozen=True)
class LimitPosition:
    entry: LimitEntryRecord
    policy: PolicyRecord


class PolicyUseCases(Transactions[PolicyStore]):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        products: Mapping[str, Product],
        rule_sets: Mapping[str, RuleSet],
    ) -> None:
        super().__init__(engine, PolicyStore)
        self.clock = clock
        self.products = dict(products)
        self.rule_sets = dict(rule_sets)

    # ------------------------------------------------------------ registry

    async def register_community(
        self, store: PolicyStore, *, region_code: str, name: str, appreciation_balance_fen: int
    ) -> Community:
        require_region(region_code)
        if await store.community_by_name(region_code, name):
            raise PreconditionFailed(
                f"community {name!r} is already registered in {region_code}", field="name"
            )
        community = Community(new_id("com"), region_code, name, appreciation_balance_fen)
        await store.add_community(community)
        return community

    async def community(self, store: PolicyStore, community_id: str) -> Community:
        community = await store.community(community_id)
        if community is None:
            raise NotFound(f"community {community_id!r} not found", field="community_id")
        require_region(community.region_code)
        return community

    async def community_summary(self, store: PolicyStore, community_id: str) -> CommunitySummary:
        await self.community(store, community_id)  # not found, or not the caller's region
        (summary,) = await store.community_summaries(community_id=community_id, at=self.clock.now())
        return summary

    async def list_communities(
        self,
        store: PolicyStore,
        *,
        region_prefix: str,
        after: tuple[str, str] | None,
        limit: int,
    ) -> list[CommunitySummary]:
        return await store.community_summaries(
            region_prefix=region_prefix or None,
            region_prefixes=_region_prefixes(),
            after=after,
            limit=limit,
            at=self.clock.now(),
        )

    async def register_flats(
        self, store: PolicyStore, *, community_id: str, records: Sequence[FlatRecord]
    ) -> list[FlatRecord]:
        await self.community(store, community_id)
        try:
            async with store.conn.begin_nested():
                await store.add_flats(records)
        except IntegrityError as exc:
            raise PreconditionFailed(
                "a flat with the same building, unit and number is already registered",
                field="flats",
            ) from exc
        return list(records)

    async def register_elevator(
        self,
        store: PolicyStore,
        *,
        community_id: str,
        building: str,
        unit: str,
        spec: ElevatorSpec,
        served_flat_ids: Sequence[str],
    ) -> Elevator:
        community = await self.community(store, community_id)
        if await store.elevator_id_for_codes(spec.registration_code, spec.equipment_code):
            raise DuplicateElevator(
                f"an elevator with registration code {spec.registration_code} or equipment code "
                f"{spec.equipment_code} is already registered",
                field="spec.registration_code",
            )
        if served_flat_ids:
            found = await store.flats_by_id(served_flat_ids)
            known = {f.flat_id for f in found if f.community_id == community.community_id}
            for index, flat_id in enumerate(served_flat_ids):
                if flat_id not in known:
                    raise InvalidValue(
                        f"served_flat_ids[{index}]", f"no flat {flat_id!r} in this community"
                    )
            served = list(dict.fromkeys(served_flat_ids))
        else:
            served = [f.flat_id for f in await store.flats_of_unit(community_id, building, unit)]
        elevator_id = new_id("elv")
        await store.add_elevator(
            elevator_id=elevator_id,
            community_id=community_id,
            building=building,
            unit=unit,
            spec=spec,
            served_flat_ids=served,
        )
        return await self._elevator(store, elevator_id)

    async def record_inspection(
        self,
        store: PolicyStore,
        *,
        elevator_id: str,
        inspected_on: date,
        result: InspectionResult,
        next_due_on: date | None,
    ) -> Elevator:
        await self._elevator(store, elevator_id)
        facts = InspectionFacts(inspected_on, result, next_due_on or default_next_due(inspected_on))
        await store.record_inspection(elevator_id, facts, current_principal().subject)
        return await self._elevator(store, elevator_id)

    async def _elevator(
        self, store: PolicyStore, elevator_id: str, *, for_update: bool = False
    ) -> Elevator:
        elevator = await store.elevator(
            elevator_id=elevator_id, for_update=for_update, at=self.clock.now()
        )
        if elevator is None:
            raise ElevatorNotFound(f"elevator {elevator_id!r} not found", field="elevator_id")
        require_region(elevator.region_code)
        return elevator

    async def elevator_by_registration(self, store: PolicyStore, raw_code: str) -> Elevator:
        code = normalise_registration_code(raw_code)
        elevator = await store.elevator(registration_code=code, at=self.clock.now())
        if elevator is None:
            raise ElevatorNotFound(
                f"no elevator with registration code {code}", field="registration_code"
            )
        require_region(elevator.region_code)
        return elevator

    async def get_elevator(self, store: PolicyStore, elevator_id: str) -> Elevator:
        return await self._elevator(store, elevator_id)

    async def list_elevators(
        self, store: PolicyStore, *, community_id: str, after_id: str, limit: int
    ) -> list[Elevator]:
        if community_id:
            await self.community(store, community_id)
        return await store.list_elevators(
            community_id=community_id or None,
            region_prefixes=_region_prefixes(),
            after_id=after_id,
            limit=limit,
            at=self.clock.now(),
        )

    # ------------------------------------------------------------ votes

    async def open_vote(self, store: PolicyStore, *, elevator_id: str, rule_set: str) -> VoteRecord:
        elevator = await self._elevator(store, elevator_id, for_update=True)
        rules = select_rule_set(self.rule_sets, rule_set)
        if not elevator.served_flat_ids:
            raise EmptyElectorate()
        vote_id = new_id("vot")
        try:
            async with store.conn.begin_nested():
                await store.add_vote(
                    vote_id=vote_id,
                    elevator_id=elevator_id,
                    rule_set=rules.name,
                    rule_set_version=rules.version,
                    opened_at=self.clock.now(),
                    opened_by=current_principal().subject,
                )
        except IntegrityError as exc:
            raise VoteAlreadyOpen(
                f"elevator {elevator_id} already has an open vote", field="elevator_id"
            ) from exc
        return await self._vote(store, vote_id)

    async def _vote(
        self, store: PolicyStore, vote_id: str, *, for_update: bool = False
    ) -> VoteRecord:
        vote = await store.vote(vote_id, for_update=for_update)
        if vote is None:
            raise NotFound(f"vote {vote_id!r} not found", field="vote_id")
        await self._elevator(store, vote.elevator_id)  # authorises by region
        return vote

    async def get_vote(self, store: PolicyStore, vote_id: str) -> VoteRecord:
        return await self._vote(store, vote_id)

    async def _authorise_parent(
        self, store: PolicyStore, elevator_id: str | None, community_id: str | None
    ) -> None:
        """Everything listed belongs to this elevator or community: its region decides."""
        if elevator_id is not None:
            await self._elevator(store, elevator_id)
        if community_id is not None:
            await self.community(store, community_id)

    async def list_votes(
        self,
        store: PolicyStore,
        *,
        elevator_id: str | None,
        community_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[VoteRecord]:
        await self._authorise_parent(store, elevator_id, community_id)
        return await store.list_votes(
            elevator_id=elevator_id, community_id=community_id, before=before, limit=limit
        )

    async def cast_ballots(
        self, store: PolicyStore, *, vote_id: str, cast: Sequence[tuple[str, Ballot]]
    ) -> VoteRecord:
        vote = await self._vote(store, vote_id, for_update=True)
        if vote.status != "open":
            raise VoteNotOpen(f"vote {vote_id} is {vote.status}", field="vote_id")
        electorate = {f.owner_id for f in await store.served_flats(vote.elevator_id)}
        for index, (owner_id, _) in enumerate(cast):
            if owner_id not in electorate:
                raise InvalidValue(
                    f"ballots[{index}].owner_id",
                    f"owner {owner_id!r} holds no flat served by this elevator",
                )
        await store.put_ballots(vote_id, cast, self.clock.now(), current_principal().subject)
        return await self._vote(store, vote_id)

    async def close_vote(self, store: PolicyStore, *, vote_id: str) -> VoteRecord:
        vote = await self._vote(store, vote_id, for_update=True)
        if vote.status != "open":
            raise VoteNotOpen(f"vote {vote_id} is already {vote.status}", field="vote_id")
        rules = select_rule_set(self.rule_sets, vote.rule_set, vote.rule_set_version)
        served = [f.as_flat() for f in await store.served_flats(vote.elevator_id)]
        outcome = decide_vote(rules, served, vote.ballots)
        tally = {
            "turnout_area": str(outcome.turnout_area),
            "turnout_headcount": str(outcome.turnout_headcount),
            "agree_area": str(outcome.agree_area),
            "agree_headcount": str(outcome.agree_headcount),
            "electorate_headcount": outcome.tally.electorate_headcount,
            "electorate_area_m2": str(outcome.tally.electorate_area),
        }
        await store.close_vote(
            vote_id,
            passed=outcome.passed,
            at=self.clock.now(),
            by=current_principal().subject,
            tally=tally,
            explanation=outcome.explanation,
        )
        return await self._vote(store, vote_id)

    # ------------------------------------------------------------ policies

    def product(self, code: str) -> Product:
        return find_product(self.products, code)

    async def issue_policy(
        self, store: PolicyStore, *, elevator_id: str, product_code: str, starts_at: datetime | None
    ) -> PolicyRecord:
        now = self.clock.now()
        elevator = await self._elevator(store, elevator_id, for_update=True)
        product = self.product(product_code)
        vote = await store.latest_decided_vote(elevator_id)
        policy = issue_policy(
            policy_id=new_id("pol"),
            elevator_id=elevator_id,
            product=product,
            start=starts_at or now,
            vote_passed=vote is not None and vote.status == "passed",
            inspection=elevator.inspection,
            as_of=now,
        )
        assert vote is not None  # issue_policy refuses a policy without a passed vote
        return await self._fund_and_store(store, elevator, policy, vote.vote_id)

    async def renew_policy(self, store: PolicyStore, *, policy_id: str) -> PolicyRecord:
        now = self.clock.now()
        current = await self._policy(store, policy_id, for_update=True)
        elevator = await self._elevator(store, current.policy.elevator_id, for_update=True)
        renewed = renew(
            current.policy,
            new_policy_id=new_id("pol"),
            inspection=elevator.inspection,
            as_of=now,
        )
        return await self._fund_and_store(store, elevator, renewed, current.vote_id)

    async def _fund_and_store(
        self, store: PolicyStore, elevator: Elevator, policy: Policy, vote_id: str
    ) -> PolicyRecord:
        community = await store.community(elevator.community_id, for_update=True)
        assert community is not None
        served = await store.served_flats(elevator.elevator_id, for_update=True)
        plan = plan_funding(
            premium_fen=policy.premium_fen,
            appreciation_balance_fen=community.appreciation_balance_fen,
            flats=[f.as_flat() for f in served],
            account_balances={
                f.flat_id: f.fund_balance_fen for f in served if f.fund_balance_fen is not None
            },
        )
        await self._apply_funding(store, community.community_id, plan)
        try:
            async with store.conn.begin_nested():
                await store.add_policy(
                    policy, vote_id=vote_id, funding=plan, issued_by=current_principal().subject
                )
        except IntegrityError as exc:
            raise PolicyOverlap(
                f"elevator {elevator.elevator_id} already has an active policy in that period",
                field="starts_at",
            ) from exc
        await store.emit(
            "policy.issued",
            policy.policy_id,
            {
                "policy_id": policy.policy_id,
                "elevator_id": policy.elevator_id,
                "registration_code": elevator.spec.registration_code,
                "region_code": elevator.region_code,
                "starts_at": policy.start.isoformat(),
                "ends_at": policy.end.isoformat(),
                "premium_fen": policy.premium_fen,
                "from_appreciation_fen": plan.from_appreciation_fen,
                # The housing bureau deducts these from the personal accounts it keeps.
                "account_deductions": [
                    {"flat_id": ln.flat_id, "amount_fen": ln.from_account_fen}
                    for ln in plan.lines
                    if ln.from_account_fen
                ],
                "cash_bills": [
                    {"flat_id": ln.flat_id, "amount_fen": ln.billed_cash_fen}
                    for ln in plan.lines
                    if ln.billed_cash_fen
                ],
            },
        )
        return await self._policy(store, policy.policy_id)

    async def _apply_funding(
        self, store: PolicyStore, community_id: str, plan: FundingPlan
    ) -> None:
        # Rows are locked FOR UPDATE above, so these conditional debits cannot fail unless the
        # plan and the balances disagree; if they do, refuse rather than overdraw.
        if plan.from_appreciation_fen and not await store.debit_appreciation(
            community_id, plan.from_appreciation_fen
        ):
            raise FundsChanged("the appreciation-income balance changed; retry")
        for line in plan.lines:
            if line.from_account_fen and not await store.debit_flat_account(
                line.flat_id, line.from_account_fen
            ):
                raise FundsChanged(f"the fund balance of flat {line.flat_id} changed; retry")

    async def _policy(
        self, store: PolicyStore, policy_id: str, *, for_update: bool = False
    ) -> PolicyRecord:
        record = await store.policy(policy_id, for_update=for_update)
        if record is None:
            raise NotFound(f"policy {policy_id!r} not found", field="policy_id")
        await self._elevator(store, record.policy.elevator_id)  # authorises by region
        return record

    async def get_policy(self, store: PolicyStore, policy_id: str) -> PolicyRecord:
        return await self._policy(store, policy_id)

    async def list_policies(
        self,
        store: PolicyStore,
        *,
        elevator_id: str | None,
        community_id: str | None,
        before: tuple[datetime, str] | None,
        limit: int,
    ) -> list[PolicyRecord]:
        await self._authorise_parent(store, elevator_id, community_id)
        return await store.list_policies(
            elevator_id=elevator_id, community_id=community_id, before=before, limit=limit
        )

    async def cancel_policy(
        self, store: PolicyStore, *, policy_id: str, reason: str, effective_at: datetime | None
    ) -> PolicyRecord:
        record = await self._policy(store, policy_id, for_update=True)
        result = cancel(record.policy, effective_at or self.clock.now(), reason=reason)
        await store.mark_cancelled(result.policy)
        await store.emit(
            "policy.cancelled",
            policy_id,
            {
                "policy_id": policy_id,
                "refund_fen": result.refund_fen,
                "cancelled_at": result.policy.cancelled_at.isoformat()
                if result.policy.cancelled_at
                else None,
                "reason": reason,
            },
        )
        return await self._policy(store, policy_id)

    # ------------------------------------------------------------ coverage and limits

    async def check_coverage(
        self, store: PolicyStore, *, registration_code: str, loss_time: datetime, peril: Peril
    ) -> tuple[CoverageDecision, PolicyRecord | None]:
        elevator = await self.elevator_by_registration(store, registration_code)
        record = await store.policy_for_loss(elevator.elevator_id, loss_time)
        inspection = await store.inspection(elevator.elevator_id, on=china_date(loss_time))
        decision = check_coverage(
            policy=record.policy if record else None,
            loss_time=loss_time,
            peril=peril,
            inspection=inspection,
            used_fen=record.reserved_fen + record.paid_fen if record else 0,
        )
        return decision, record

    async def reserve_limit(
        self, store: PolicyStore, *, claim_id: str, policy_id: str, amount_fen: int
    ) -> LimitPosition:
        record = await self._policy(store, policy_id)
        product = record.policy.product
        if amount_fen > product.per_claim_limit_fen:
            raise PerClaimLimitExceeded(amount_fen, product.per_claim_limit_fen)
        if not await store.insert_reservation(claim_id, policy_id, amount_fen):
            existing = await store.limit_entry(claim_id)
            assert existing is not None
            if (existing.policy_id, existing.reserved_fen) != (policy_id, amount_fen):
                raise ClaimConflict(
                    claim_id,
                    f"already reserved {existing.reserved_fen} fen on {existing.policy_id}",
                )
            return await self._position(store, claim_id)  # a retry: the first answer
        if not await store.add_to_ledger(policy_id, reserved_delta=amount_fen, paid_delta=0):
            fresh = await self._policy(store, policy_id)
            if fresh.policy.status.value != "active":
                raise PreconditionFailed(f"policy {policy_id} is {fresh.policy.status.value}")
            raise LimitExceeded(amount_fen, fresh.remaining_fen)
        return await self._position(store, claim_id)

    async def release_limit(self, store: PolicyStore, *, claim_id: str) -> LimitPosition:
        entry = await self._entry(store, claim_id)
        if entry.state == "released":
            return await self._position(store, claim_id)
        if entry.state != "reserved":
            raise ReservationClosed(claim_id, entry.state)
        await store.add_to_ledger(entry.policy_id, reserved_delta=-entry.reserved_fen, paid_delta=0)
        await store.settle_entry(claim_id, state="released", paid_fen=0, at=self.clock.now())
        return await self._position(store, claim_id)

    async def pay_limit(
        self, store: PolicyStore, *, claim_id: str, amount_fen: int
    ) -> LimitPosition:
        entry = await self._entry(store, claim_id)
        if entry.state == "paid" and entry.paid_fen == amount_fen:
            return await self._position(store, claim_id)  # paid already: never twice
        if entry.state != "reserved":
            raise ReservationClosed(claim_id, entry.state)
        if amount_fen > entry.reserved_fen:
            raise PaymentExceedsReservation(claim_id, amount_fen, entry.reserved_fen)
        # Paying converts the reservation: the total used can only go down, never above it.
        await store.add_to_ledger(
            entry.policy_id, reserved_delta=-entry.reserved_fen, paid_delta=amount_fen
        )
        await store.settle_entry(claim_id, state="paid", paid_fen=amount_fen, at=self.clock.now())
        return await self._position(store, claim_id)

    async def _entry(self, store: PolicyStore, claim_id: str) -> LimitEntryRecord:
        entry = await store.limit_entry(claim_id, for_update=True)
        if entry is None:
            raise NoReservation(claim_id)
        await self._policy(store, entry.policy_id)  # authorises by region
        return entry

    async def _position(self, store: PolicyStore, claim_id: str) -> LimitPosition:
        entry = await store.limit_entry(claim_id)
        assert entry is not None
        return LimitPosition(entry=entry, policy=await self._policy(store, entry.policy_id))


def _region_prefixes() -> list[str] | None:
    """The caller's regions as prefixes for a listing query; None for all regions."""
    regions = current_principal().regions
    return None if ALL_REGIONS in regions else sorted(regions)
