"""The policy schema in PostgreSQL: the only module that speaks SQL.

Invariants that concurrency could break are enforced here by conditional updates (and by
constraints in the migration as the last line of defence), never by read-then-write in code.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.policy.domain.funding import FundingLine, FundingPlan
from services.policy.domain.inspections import InspectionFacts, InspectionResult
from services.policy.domain.policies import Policy, PolicyStatus
from services.policy.domain.products import Peril, Product
from services.policy.domain.registry import Community, Elevator, ElevatorSpec, FlatRecord
from services.policy.domain.voting import Ballot
from shared.outbox import OutboxPage, events_after

m = sa.MetaData()
TS = sa.DateTime(timezone=True)

communities = sa.Table(
    "communities",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("region_code", sa.Text),
    sa.Column("name", sa.Text),
    sa.Column("appreciation_balance_fen", sa.BigInteger),
)
flats = sa.Table(
    "flats",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("community_id", sa.Text),
    sa.Column("building", sa.Text),
    sa.Column("unit", sa.Text),
    sa.Column("number", sa.Text),
    sa.Column("floor_area_m2", sa.Numeric(10, 2)),
    sa.Column("owner_id", sa.Text),
    sa.Column("owner_name", sa.Text),
    sa.Column("fund_balance_fen", sa.BigInteger),
)
elevators = sa.Table(
    "elevators",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("community_id", sa.Text),
    sa.Column("building", sa.Text),
    sa.Column("unit", sa.Text),
    sa.Column("registration_code", sa.Text),
    sa.Column("equipment_code", sa.Text),
    sa.Column("brand", sa.Text),
    sa.Column("landings", sa.Integer),
    sa.Column("rope_count", sa.Integer),
    sa.Column("rope_length_m", sa.Numeric(8, 2)),
    sa.Column("motor_kw", sa.Numeric(6, 2)),
    sa.Column("installed_on", sa.Date),
)
inspections = sa.Table(
    "inspections",
    m,
    sa.Column("elevator_id", sa.Text, primary_key=True),
    sa.Column("inspected_on", sa.Date, primary_key=True),
    sa.Column("result", sa.Text),
    sa.Column("next_due_on", sa.Date),
    sa.Column("recorded_by", sa.Text),
)
elevator_flats = sa.Table(
    "elevator_flats",
    m,
    sa.Column("elevator_id", sa.Text, primary_key=True),
    sa.Column("flat_id", sa.Text, primary_key=True),
)
votes = sa.Table(
    "votes",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("elevator_id", sa.Text),
    sa.Column("rule_set", sa.Text),
    sa.Column("rule_set_version", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("opened_at", TS),
    sa.Column("opened_by", sa.Text),
    sa.Column("closed_at", TS),
    sa.Column("closed_by", sa.Text),
    sa.Column("tally", pg.JSONB),
    sa.Column("explanation", pg.JSONB),
)
ballots = sa.Table(
    "ballots",
    m,
    sa.Column("vote_id", sa.Text, primary_key=True),
    sa.Column("owner_id", sa.Text, primary_key=True),
    sa.Column("choice", sa.Text),
    sa.Column("cast_at", TS),
    sa.Column("recorded_by", sa.Text),
)
policies = sa.Table(
    "policies",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("elevator_id", sa.Text),
    sa.Column("vote_id", sa.Text),
    sa.Column("product_code", sa.Text),
    sa.Column("product", pg.JSONB),
    sa.Column("starts_at", TS),
    sa.Column("ends_at", TS),
    sa.Column("status", sa.Text),
    sa.Column("premium_fen", sa.BigInteger),
    sa.Column("from_appreciation_fen", sa.BigInteger),
    sa.Column("sum_insured_fen", sa.BigInteger),
    sa.Column("reserved_fen", sa.BigInteger),
    sa.Column("paid_fen", sa.BigInteger),
    sa.Column("cancelled_at", TS),
    sa.Column("cancel_reason", sa.Text),
    sa.Column("refund_fen", sa.BigInteger),
    sa.Column("renewed_from_policy_id", sa.Text),
    sa.Column("issued_by", sa.Text),
)
funding_lines = sa.Table(
    "funding_lines",
    m,
    sa.Column("policy_id", sa.Text, primary_key=True),
    sa.Column("flat_id", sa.Text, primary_key=True),
    sa.Column("owner_id", sa.Text),
    sa.Column("share_fen", sa.BigInteger),
    sa.Column("from_account_fen", sa.BigInteger),
    sa.Column("billed_cash_fen", sa.BigInteger),
)
limit_entries = sa.Table(
    "limit_entries",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("policy_id", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("reserved_fen", sa.BigInteger),
    sa.Column("paid_fen", sa.BigInteger),
    sa.Column("updated_at", TS),
)
outbox = sa.Table(
    "outbox",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("topic", sa.Text),
    sa.Column("key", sa.Text),
    sa.Column("payload", pg.JSONB),
)


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class VoteRecord:
    vote_id: str
    elevator_id: str
    rule_set: str
    rule_set_version: str
    status: str  # open | passed | failed
    opened_at: datetime
    closed_at: datetime | None
    tally: dict[str, Any] | None
    explanation: list[str] | None
    ballots: dict[str, Ballot]


@dataclass(frozen=True)
class FundedFlat:
    """A flat charged by a funding plan, as the registry knows it now (for display)."""

    building: str
    unit: str
    number: str
    owner_id: str
    owner_name: str


@dataclass(frozen=True)
class PolicyRecord:
    """A policy with its ledger totals and funding plan, as stored."""

    policy: Policy
    vote_id: str
    from_appreciation_fen: int
    reserved_fen: int
    paid_fen: int
    funding: FundingPlan
    flats: Mapping[str, FundedFlat]  # by flat id, for the plan's lines

    @property
    def remaining_fen(self) -> int:
        return self.policy.product.sum_insured_fen - self.reserved_fen - self.paid_fen


@dataclass(frozen=True)
class CommunitySummary:
    community: Community
    elevator_count: int
    insured_elevator_count: int  # elevators with an active policy in force at the given time


@dataclass(frozen=True)
class LimitEntryRecord:
    claim_id: str
    policy_id: str
    state: str  # reserved | released | paid
    reserved_fen: int
    paid_fen: int


def _newest_first(
    table: sa.Table,
    at: sa.Column[Any],
    elevator_id: str | None,
    community_id: str | None,
    before: tuple[datetime, str] | None,
    limit: int,
) -> sa.Select[Any]:
    """Rows of ``table`` (votes, policies) of one elevator or of a community's elevators, by
    ``at`` then id, newest first, after the keyset ``before``."""
    query = table.select().order_by(at.desc(), table.c.id.desc()).limit(limit)
    if elevator_id is not None:
        query = query.where(table.c.elevator_id == elevator_id)
    if community_id is not None:
        query = query.where(
            table.c.elevator_id.in_(
                sa.select(elevators.c.id).where(elevators.c.community_id == community_id)
            )
        )
    if before is not None:
        query = query.where(sa.tuple_(at, table.c.id) < before)
    return query


def product_to_json(product: Product) -> dict[str, Any]:
    return {
        "code": product.code,
        "name": product.name,
        "annual_premium_fen": product.annual_premium_fen,
        "sum_insured_fen": product.sum_insured_fen,
        "per_claim_limit_fen": product.per_claim_limit_fen,
        "deductible_fen": product.deductible_fen,
        "covered_perils": sorted(product.covered_perils),
        "exclusions": sorted(product.exclusions),
    }


def product_from_json(data: dict[str, Any]) -> Product:
    return Product(
        code=data["code"],
        name=data["name"],
        annual_premium_fen=data["annual_premium_fen"],
        sum_insured_fen=data["sum_insured_fen"],
        per_claim_limit_fen=data["per_claim_limit_fen"],
        deductible_fen=data["deductible_fen"],
        covered_perils=frozenset(Peril(p) for p in data["covered_perils"]),
        exclusions=frozenset(Peril(p) for p in data["exclusions"]),
    )


class PolicyStore:
    """Queries over one connection; the caller's unit of work owns the transaction."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ communities and flats

    async def add_community(self, community: Community) -> None:
        await self.conn.execute(
            communities.insert().values(
                id=community.community_id,
                region_code=community.region_code,
                name=community.name,
                appreciation_balance_fen=community.appreciation_balance_fen,
            )
        )

    async def community(self, community_id: str, *, for_update: bool = False) -> Community | None:
        query = communities.select().where(communities.c.id == community_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            return None
        return Community(row.id, row.region_code, row.name, row.appreciation_balance_fen)

    async def community_summaries(
        self,
        *,
        community_id: str | None = None,
        region_prefix: str | None = None,
        region_prefixes: Sequence[str] | None = None,
        after: tuple[str, str] | None = None,
        limit: int = 1,
        at: datetime,
    ) -> list[CommunitySummary]:
        """Communities by (region code, name) with their counts; ``after`` is the last key seen.

        ``region_prefixes`` are the caller's regions (None: all); ``region_prefix`` narrows them.
        """
        elevator_count = (
            sa.select(sa.func.count())
            .where(elevators.c.community_id == communities.c.id)
            .scalar_subquery()
        )
        insured_count = (
            sa.select(sa.func.count(sa.distinct(policies.c.elevator_id)))
            .select_from(policies.join(elevators, elevators.c.id == policies.c.elevator_id))
            .where(
                elevators.c.community_id == communities.c.id,
                policies.c.status == "active",
                policies.c.starts_at <= at,
                policies.c.ends_at > at,
            )
            .scalar_subquery()
        )
        query = (
            sa.select(
                communities,
                elevator_count.label("elevator_count"),
                insured_count.label("insured_count"),
            )
            .order_by(communities.c.region_code, communities.c.name)
            .limit(limit)
        )
        if community_id is not None:
            query = query.where(communities.c.id == community_id)
        if region_prefix:
            query = query.where(communities.c.region_code.startswith(region_prefix))
        if region_prefixes is not None:
            query = query.where(
                sa.or_(*(communities.c.region_code.startswith(p) for p in region_prefixes))
            )
        if after is not None:
            query = query.where(sa.tuple_(communities.c.region_code, communities.c.name) > after)
        return [
            CommunitySummary(
                Community(r.id, r.region_code, r.name, r.appreciation_balance_fen),
                elevator_count=r.elevator_count,
                insured_elevator_count=r.insured_count,
            )
            for r in await self.conn.execute(query)
        ]

    async def community_by_name(self, region_code: str, name: str) -> Community | None:
        row = (
            await self.conn.execute(
                sa.select(communities.c.id).where(
                    communities.c.region_code == region_code, communities.c.name == name
                )
            )
        ).first()
        return None if row is None else await self.community(row.id)

    async def debit_appreciation(self, community_id: str, amount_fen: int) -> bool:
        result = await self.conn.execute(
            communities.update()
            .where(
                communities.c.id == community_id,
                communities.c.appreciation_balance_fen >= amount_fen,
            )
            .values(appreciation_balance_fen=communities.c.appreciation_balance_fen - amount_fen)
        )
        return result.rowcount == 1

    async def add_flats(self, records: Sequence[FlatRecord]) -> None:
        if records:
            await self.conn.execute(
                flats.insert(),
                [
                    {
                        "id": f.flat_id,
                        "community_id": f.community_id,
                        "building": f.building,
                        "unit": f.unit,
                        "number": f.number,
                        "floor_area_m2": f.area,
                        "owner_id": f.owner_id,
                        "owner_name": f.owner_name,
                        "fund_balance_fen": f.fund_balance_fen,
                    }
                    for f in records
                ],
            )

    async def flats_where(self, *conditions: Any, for_update: bool = False) -> list[FlatRecord]:
        query = flats.select().where(*conditions).order_by(flats.c.id)
        rows = await self.conn.execute(query.with_for_update() if for_update else query)
        return [
            FlatRecord(
                flat_id=r.id,
                community_id=r.community_id,
                building=r.building,
                unit=r.unit,
                number=r.number,
                area=r.floor_area_m2,
                owner_id=r.owner_id,
                owner_name=r.owner_name,
                fund_balance_fen=r.fund_balance_fen,
            )
            for r in rows
        ]

    async def flats_of_unit(self, community_id: str, building: str, unit: str) -> list[FlatRecord]:
        return await self.flats_where(
            flats.c.community_id == community_id, flats.c.building == building, flats.c.unit == unit
        )

    async def flats_by_id(self, flat_ids: Sequence[str]) -> list[FlatRecord]:
        return await self.flats_where(flats.c.id.in_(list(flat_ids)))

    async def served_flats(self, elevator_id: str, *, for_update: bool = False) -> list[FlatRecord]:
        served = sa.select(elevator_flats.c.flat_id).where(
            elevator_flats.c.elevator_id == elevator_id
        )
        return await self.flats_where(flats.c.id.in_(served), for_update=for_update)

    async def debit_flat_account(self, flat_id: str, amount_fen: int) -> bool:
        result = await self.conn.execute(
            flats.update()
            .where(flats.c.id == flat_id, flats.c.fund_balance_fen >= amount_fen)
            .values(fund_balance_fen=flats.c.fund_balance_fen - amount_fen)
        )
        return result.rowcount == 1

    # ------------------------------------------------------------ elevators

    async def add_elevator(
        self,
        *,
        elevator_id: str,
        community_id: str,
        building: str,
        unit: str,
        spec: ElevatorSpec,
        served_flat_ids: Sequence[str],
    ) -> None:
        await self.conn.execute(
            elevators.insert().values(
                id=elevator_id,
                community_id=community_id,
                building=building,
                unit=unit,
                registration_code=spec.registration_code,
                equipment_code=spec.equipment_code,
                brand=spec.brand,
                landings=spec.landings,
                rope_count=spec.rope_count,
                rope_length_m=spec.rope_length_m,
                motor_kw=spec.motor_kw,
                installed_on=spec.installed_on,
            )
        )
        if served_flat_ids:
            await self.conn.execute(
                elevator_flats.insert(),
                [{"elevator_id": elevator_id, "flat_id": f} for f in served_flat_ids],
            )

    async def elevator_id_for_codes(
        self, registration_code: str, equipment_code: str
    ) -> str | None:
        row = (
            await self.conn.execute(
                sa.select(elevators.c.id).where(
                    sa.or_(
                        elevators.c.registration_code == registration_code,
                        elevators.c.equipment_code == equipment_code,
                    )
                )
            )
        ).first()
        return None if row is None else str(row.id)

    async def elevator(
        self,
        *,
        elevator_id: str | None = None,
        registration_code: str | None = None,
        for_update: bool = False,
        at: datetime | None = None,
    ) -> Elevator | None:
        query = sa.select(elevators, communities.c.region_code).join(
            communities, communities.c.id == elevators.c.community_id
        )
        if elevator_id is not None:
            query = query.where(elevators.c.id == elevator_id)
        else:
            query = query.where(elevators.c.registration_code == registration_code)
        if for_update:
            query = query.with_for_update(of=elevators)
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        return await self._elevator_from_row(row, at)

    async def list_elevators(
        self,
        *,
        community_id: str | None,
        region_prefixes: Sequence[str] | None,
        after_id: str,
        limit: int,
        at: datetime,
    ) -> list[Elevator]:
        query = (
            sa.select(elevators, communities.c.region_code)
            .join(communities, communities.c.id == elevators.c.community_id)
            .where(elevators.c.id > after_id)
            .order_by(elevators.c.id)
            .limit(limit)
        )
        if community_id:
            query = query.where(elevators.c.community_id == community_id)
        if region_prefixes is not None:
            query = query.where(
                sa.or_(*(communities.c.region_code.startswith(p) for p in region_prefixes))
            )
        rows = (await self.conn.execute(query)).all()
        return [await self._elevator_from_row(r, at) for r in rows]

    async def _elevator_from_row(self, row: Any, at: datetime | None) -> Elevator:
        served = (
            await self.conn.execute(
                sa.select(elevator_flats.c.flat_id)
                .where(elevator_flats.c.elevator_id == row.id)
                .order_by(elevator_flats.c.flat_id)
            )
        ).scalars()
        return Elevator(
            elevator_id=row.id,
            community_id=row.community_id,
            region_code=row.region_code,
            building=row.building,
            unit=row.unit,
            spec=ElevatorSpec(
                registration_code=row.registration_code,
                equipment_code=row.equipment_code,
                brand=row.brand,
                landings=row.landings,
                rope_count=row.rope_count,
                rope_length_m=row.rope_length_m,
                motor_kw=row.motor_kw,
                installed_on=row.installed_on,
            ),
            inspection=await self.inspection(row.id, on=None),
            served_flat_ids=tuple(served),
            current_policy_id=await self.current_policy_id(row.id, at) if at else None,
        )

    async def record_inspection(
        self, elevator_id: str, facts: InspectionFacts, recorded_by: str
    ) -> None:
        await self.conn.execute(
            pg.insert(inspections)
            .values(
                elevator_id=elevator_id,
                inspected_on=facts.inspected_on,
                result=facts.result.value,
                next_due_on=facts.next_due_on,
                recorded_by=recorded_by,
            )
            .on_conflict_do_update(
                index_elements=[inspections.c.elevator_id, inspections.c.inspected_on],
                set_={
                    "result": facts.result.value,
                    "next_due_on": facts.next_due_on,
                    "recorded_by": recorded_by,
                },
            )
        )

    async def inspection(self, elevator_id: str, *, on: date | None) -> InspectionFacts | None:
        """The latest inspection, or the one in force on ``on`` (the latest not after it)."""
        query = sa.select(inspections).where(inspections.c.elevator_id == elevator_id)
        if on is not None:
            query = query.where(inspections.c.inspected_on <= on)
        row = (
            await self.conn.execute(query.order_by(inspections.c.inspected_on.desc()).limit(1))
        ).first()
        if row is None:
            return None
        return InspectionFacts(row.inspected_on, InspectionResult(row.result), row.next_due_on)

    # ------------------------------------------------------------ votes

    async def add_vote(
        self,
        *,
        vote_id: str,
        elevator_id: str,
        rule_set: str,
        rule_set_version: str,
        opened_at: datetime,
        opened_by: str,
    ) -> None:
        await self.conn.execute(
            votes.insert().values(
                id=vote_id,
                elevator_id=elevator_id,
                rule_set=rule_set,
                rule_set_version=rule_set_version,
                status="open",
                opened_at=opened_at,
                opened_by=opened_by,
            )
        )

    async def vote(self, vote_id: str, *, for_update: bool = False) -> VoteRecord | None:
        query = votes.select().where(votes.c.id == vote_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else (await self._votes_from_rows([row]))[0]

    async def list_votes(
        self,
        *,
        elevator_id: str | None = None,
        community_id: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int,
    ) -> list[VoteRecord]:
        """Newest first; ``before`` is the (opened_at, id) of the last vote of the previous page."""
        query = _newest_first(votes, votes.c.opened_at, elevator_id, community_id, before, limit)
        return await self._votes_from_rows((await self.conn.execute(query)).all())

    async def _votes_from_rows(self, rows: Sequence[Any]) -> list[VoteRecord]:
        """One query for the ballots of every vote of the page, not one per vote."""
        cast: dict[str, dict[str, Ballot]] = {row.id: {} for row in rows}
        if rows:
            for b in await self.conn.execute(
                sa.select(ballots.c.vote_id, ballots.c.owner_id, ballots.c.choice)
                .where(ballots.c.vote_id.in_(list(cast)))
                .order_by(ballots.c.vote_id, ballots.c.owner_id)
            ):
                cast[b.vote_id][b.owner_id] = Ballot(b.choice)
        return [
            VoteRecord(
                vote_id=row.id,
                elevator_id=row.elevator_id,
                rule_set=row.rule_set,
                rule_set_version=row.rule_set_version,
                status=row.status,
                opened_at=row.opened_at,
                closed_at=row.closed_at,
                tally=row.tally,
                explanation=row.explanation,
                ballots=cast[row.id],
            )
            for row in rows
        ]

    async def latest_decided_vote(self, elevator_id: str) -> VoteRecord | None:
        row = (
            await self.conn.execute(
                sa.select(votes.c.id)
                .where(votes.c.elevator_id == elevator_id, votes.c.status != "open")
                .order_by(votes.c.closed_at.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else await self.vote(row.id)

    async def put_ballots(
        self, vote_id: str, cast: Sequence[tuple[str, Ballot]], at: datetime, by: str
    ) -> None:
        """A later ballot of the same owner replaces the earlier one while the vote is open."""
        statement = pg.insert(ballots).values(
            [
                {
                    "vote_id": vote_id,
                    "owner_id": owner,
                    "choice": choice.value,
                    "cast_at": at,
                    "recorded_by": by,
                }
                for owner, choice in cast
            ]
        )
        await self.conn.execute(
            statement.on_conflict_do_update(
                index_elements=[ballots.c.vote_id, ballots.c.owner_id],
                set_={"choice": statement.excluded.choice, "cast_at": at, "recorded_by": by},
            )
        )

    async def close_vote(
        self,
        vote_id: str,
        *,
        passed: bool,
        at: datetime,
        by: str,
        tally: dict[str, Any],
        explanation: Sequence[str],
    ) -> bool:
        result = await self.conn.execute(
            votes.update()
            .where(votes.c.id == vote_id, votes.c.status == "open")
            .values(
                status="passed" if passed else "failed",
                closed_at=at,
                closed_by=by,
                tally=tally,
                explanation=list(explanation),
            )
        )
        return result.rowcount == 1

    # ------------------------------------------------------------ policies

    async def add_policy(
        self, policy: Policy, *, vote_id: str, funding: FundingPlan, issued_by: str
    ) -> None:
        await self.conn.execute(
            policies.insert().values(
                id=policy.policy_id,
                elevator_id=policy.elevator_id,
                vote_id=vote_id,
                product_code=policy.product.code,
                product=product_to_json(policy.product),
                starts_at=policy.start,
                ends_at=policy.end,
                status=policy.status.value,
                premium_fen=policy.premium_fen,
                from_appreciation_fen=funding.from_appreciation_fen,
                sum_insured_fen=policy.product.sum_insured_fen,
                renewed_from_policy_id=policy.renewed_from,
                issued_by=issued_by,
            )
        )
        if funding.lines:
            await self.conn.execute(
                funding_lines.insert(),
                [
                    {
                        "policy_id": policy.policy_id,
                        "flat_id": line.flat_id,
                        "owner_id": line.owner_id,
                        "share_fen": line.share_fen,
                        "from_account_fen": line.from_account_fen,
                        "billed_cash_fen": line.billed_cash_fen,
                    }
                    for line in funding.lines
                ],
            )

    async def policy(self, policy_id: str, *, for_update: bool = False) -> PolicyRecord | None:
        query = policies.select().where(policies.c.id == policy_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else await self._policy_from_row(row)

    async def list_policies(
        self,
        *,
        elevator_id: str | None = None,
        community_id: str | None = None,
        before: tuple[datetime, str] | None = None,
        limit: int,
    ) -> list[PolicyRecord]:
        """Newest first; ``before`` is the (starts_at, id) of the last policy of the previous
        page."""
        query = _newest_first(
            policies, policies.c.starts_at, elevator_id, community_id, before, limit
        )
        return await self._policies_from_rows((await self.conn.execute(query)).all())

    async def _policy_from_row(self, row: Any) -> PolicyRecord:
        return (await self._policies_from_rows([row]))[0]

    async def _policies_from_rows(self, rows: Sequence[Any]) -> list[PolicyRecord]:
        """One query for the funding lines (and their flats) of every policy of the page."""
        lines: dict[str, list[Any]] = {row.id: [] for row in rows}
        if rows:
            for line in await self.conn.execute(
                sa.select(
                    funding_lines,
                    flats.c.building,
                    flats.c.unit,
                    flats.c.number,
                    flats.c.owner_id.label("flat_owner_id"),
                    flats.c.owner_name,
                )
                .join(flats, flats.c.id == funding_lines.c.flat_id)
                .where(funding_lines.c.policy_id.in_(list(lines)))
                .order_by(funding_lines.c.policy_id, funding_lines.c.flat_id)
            ):
                lines[line.policy_id].append(line)
        return [self._policy_record(row, lines[row.id]) for row in rows]

    @staticmethod
    def _policy_record(row: Any, lines: Sequence[Any]) -> PolicyRecord:
        policy = Policy(
            policy_id=row.id,
            elevator_id=row.elevator_id,
            product=product_from_json(row.product),
            start=row.starts_at,
            end=row.ends_at,
            premium_fen=row.premium_fen,
            status=PolicyStatus(row.status),
            cancelled_at=row.cancelled_at,
            cancel_reason=row.cancel_reason,
            refund_fen=row.refund_fen,
            renewed_from=row.renewed_from_policy_id,
        )
        return PolicyRecord(
            policy=policy,
            vote_id=row.vote_id,
            from_appreciation_fen=row.from_appreciation_fen,
            reserved_fen=row.reserved_fen,
            paid_fen=row.paid_fen,
            funding=FundingPlan(
                premium_fen=row.premium_fen,
                from_appreciation_fen=row.from_appreciation_fen,
                lines=tuple(
                    FundingLine(
                        flat_id=ln.flat_id,
                        owner_id=ln.owner_id,
                        share_fen=ln.share_fen,
                        from_account_fen=ln.from_account_fen,
                        billed_cash_fen=ln.billed_cash_fen,
                    )
                    for ln in lines
                ),
            ),
            flats={
                ln.flat_id: FundedFlat(
                    ln.building, ln.unit, ln.number, ln.flat_owner_id, ln.owner_name
                )
                for ln in lines
            },
        )

    async def policy_for_loss(self, elevator_id: str, at: datetime) -> PolicyRecord | None:
        """The policy whose period holds ``at`` (an active one first); else the one that ended
        last before it; else the first that starts after it. Coverage explains which case."""
        by_elevator = policies.select().where(policies.c.elevator_id == elevator_id)
        candidates = (
            by_elevator.where(policies.c.starts_at <= at, policies.c.ends_at > at).order_by(
                (policies.c.status == "active").desc(), policies.c.starts_at.desc()
            ),
            by_elevator.where(policies.c.ends_at <= at).order_by(policies.c.ends_at.desc()),
            by_elevator.where(policies.c.starts_at > at).order_by(policies.c.starts_at),
        )
        for query in candidates:
            row = (await self.conn.execute(query.limit(1))).first()
            if row is not None:
                return await self._policy_from_row(row)
        return None

    async def current_policy_id(self, elevator_id: str, at: datetime) -> str | None:
        row = (
            await self.conn.execute(
                sa.select(policies.c.id).where(
                    policies.c.elevator_id == elevator_id,
                    policies.c.status == "active",
                    policies.c.starts_at <= at,
                    policies.c.ends_at > at,
                )
            )
        ).first()
        return None if row is None else str(row.id)

    async def mark_cancelled(self, policy: Policy) -> bool:
        result = await self.conn.execute(
            policies.update()
            .where(policies.c.id == policy.policy_id, policies.c.status == "active")
            .values(
                status="cancelled",
                cancelled_at=policy.cancelled_at,
                cancel_reason=policy.cancel_reason,
                refund_fen=policy.refund_fen,
            )
        )
        return result.rowcount == 1

    # ------------------------------------------------------------ limits ledger

    async def limit_entry(
        self, claim_id: str, *, for_update: bool = False
    ) -> LimitEntryRecord | None:
        query = limit_entries.select().where(limit_entries.c.claim_id == claim_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        if row is None:
            return None
        return LimitEntryRecord(
            row.claim_id, row.policy_id, row.state, row.reserved_fen, row.paid_fen
        )

    async def insert_reservation(self, claim_id: str, policy_id: str, amount_fen: int) -> bool:
        """False if the claim already has an entry (the caller then decides: replay or conflict)."""
        result = await self.conn.execute(
            pg.insert(limit_entries)
            .values(
                claim_id=claim_id, policy_id=policy_id, state="reserved", reserved_fen=amount_fen
            )
            .on_conflict_do_nothing()
            .returning(limit_entries.c.claim_id)
        )
        return result.first() is not None

    async def add_to_ledger(self, policy_id: str, *, reserved_delta: int, paid_delta: int) -> bool:
        """Move the policy's totals, only if the sum insured still holds and the policy is active.

        One conditional UPDATE: concurrent reservations queue on the row lock and each sees the
        totals the previous one committed, so no interleaving can exceed the limit.
        """
        result = await self.conn.execute(
            policies.update()
            .where(
                policies.c.id == policy_id,
                policies.c.status == "active",
                policies.c.reserved_fen + policies.c.paid_fen + reserved_delta + paid_delta
                <= policies.c.sum_insured_fen,
            )
            .values(
                reserved_fen=policies.c.reserved_fen + reserved_delta,
                paid_fen=policies.c.paid_fen + paid_delta,
            )
        )
        return result.rowcount == 1

    async def settle_entry(self, claim_id: str, *, state: str, paid_fen: int, at: datetime) -> None:
        await self.conn.execute(
            limit_entries.update()
            .where(limit_entries.c.claim_id == claim_id, limit_entries.c.state == "reserved")
            .values(state=state, paid_fen=paid_fen, updated_at=at)
        )

    # ------------------------------------------------------------ outbox

    async def emit(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        """An event for other systems, committed with the change it describes."""
        await self.conn.execute(outbox.insert().values(topic=topic, key=key, payload=payload))

    async def events_after(
        self, after_xid: int, after_id: int, limit: int, cursor: str
    ) -> OutboxPage:
        """The outbox in commit-safe order (``shared.outbox``)."""
        return await events_after(self.conn, after_xid, after_id, limit, cursor=cursor)
