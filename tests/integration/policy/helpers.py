"""Builders for a small insured world over the real policy API."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence

import grpc

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc

_sequence = itertools.count(1)


def rid() -> str:
    return uuid.uuid4().hex


def meta(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


def equipment_code(region: str = "430202") -> str:
    """A valid 20-digit code (3110 traction passenger elevator, region, 2018-09, sequence)."""
    return f"3110{region}201809{next(_sequence) % 10000:04d}"


def registration_code() -> str:
    return f"梯11湘B{next(_sequence) % 100000:05d}(18)"


class World:
    """One community, one unit of flats and one elevator serving them."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self.stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self.md = meta(token)

    async def community(self, *, region: str = "430202", appreciation_fen: int = 0) -> pb.Community:
        response = await self.stub.RegisterCommunity(
            pb.RegisterCommunityRequest(
                request_id=rid(),
                region_code=region,
                name=f"测试小区{uuid.uuid4().hex[:8]}",
                appreciation_balance_fen=appreciation_fen,
            ),
            metadata=self.md,
        )
        return response.community

    async def flats(
        self,
        community_id: str,
        areas: Sequence[str],
        *,
        balances: Sequence[int | None] | None = None,
        owners: Sequence[str] | None = None,
        unit: str = "1",
    ) -> list[pb.Flat]:
        flats = []
        for i, area in enumerate(areas):
            flat = pb.FlatInput(
                building="1",
                unit=unit,
                number=f"{i + 1:03d}",
                floor_area_m2=area,
                owner_id=owners[i] if owners else f"owner-{uuid.uuid4().hex[:10]}",
                owner_name="张三",
            )
            balance = balances[i] if balances else None
            if balance is not None:
                flat.fund_balance_fen = balance
            flats.append(flat)
        response = await self.stub.RegisterFlats(
            pb.RegisterFlatsRequest(request_id=rid(), community_id=community_id, flats=flats),
            metadata=self.md,
        )
        return list(response.flats)

    async def elevator(
        self, community_id: str, *, unit: str = "1", inspected_on: str | None = "2026-06-01"
    ) -> pb.Elevator:
        response = await self.stub.RegisterElevator(
            pb.RegisterElevatorRequest(
                request_id=rid(),
                community_id=community_id,
                building="1",
                unit=unit,
                spec=pb.ElevatorSpec(
                    registration_code=registration_code(),
                    equipment_code=equipment_code(),
                    brand="奥的斯",
                    landings=18,
                    rope_count=6,
                    rope_length_m="62.50",
                    motor_kw="7.5",
                    installed_on="2008-05-01",
                ),
            ),
            metadata=self.md,
        )
        elevator = response.elevator
        if inspected_on:
            elevator = (
                await self.stub.RecordInspection(
                    pb.RecordInspectionRequest(
                        request_id=rid(),
                        elevator_id=elevator.elevator_id,
                        inspected_on=inspected_on,
                        result=pb.INSPECTION_RESULT_PASSED,
                    ),
                    metadata=self.md,
                )
            ).elevator
        return elevator

    async def vote(
        self, elevator_id: str, choices: dict[str, int], rule_set: str = "civil_code_2021_art278"
    ) -> pb.Vote:
        vote = (
            await self.stub.OpenVote(
                pb.OpenVoteRequest(request_id=rid(), elevator_id=elevator_id, rule_set=rule_set),
                metadata=self.md,
            )
        ).vote
        if choices:
            await self.stub.CastBallots(
                pb.CastBallotsRequest(
                    request_id=rid(),
                    vote_id=vote.vote_id,
                    ballots=[pb.Ballot(owner_id=o, choice=c) for o, c in choices.items()],
                ),
                metadata=self.md,
            )
        return (
            await self.stub.CloseVote(
                pb.CloseVoteRequest(request_id=rid(), vote_id=vote.vote_id), metadata=self.md
            )
        ).vote

    async def insured_elevator(
        self,
        *,
        areas: Sequence[str] = ("90.00", "110.00", "100.00"),
        appreciation_fen: int = 200_000,
        region: str = "430202",
        community_id: str = "",
        unit: str = "1",
    ) -> tuple[pb.Elevator, pb.Policy]:
        """An elevator with a passed vote and a policy in force, in a new community (or in
        ``community_id``, serving a unit of its own)."""
        if not community_id:
            community = await self.community(region=region, appreciation_fen=appreciation_fen)
            community_id = community.community_id
        flats = await self.flats(community_id, areas, unit=unit)
        elevator = await self.elevator(community_id, unit=unit)
        await self.vote(elevator.elevator_id, {f.owner_id: pb.BALLOT_CHOICE_AGREE for f in flats})
        policy = (
            await self.stub.IssuePolicy(
                pb.IssuePolicyRequest(
                    request_id=rid(),
                    elevator_id=elevator.elevator_id,
                    product_code="ELEV-REPAIR-STD",
                ),
                metadata=self.md,
            )
        ).policy
        return elevator, policy
