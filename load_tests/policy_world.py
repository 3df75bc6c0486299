"""Insured elevators built through the policy API, for benchmarks to call against.

Through the API rather than into the tables: a benchmark must measure data that obeyed every
rule real data does (a passed vote before a policy, an inspection before cover), and the API
is the only place those rules live. Codes are drawn from a random offset so a run against a
long-lived database (``DATABASE_URL`` set) does not collide with an earlier run's elevators.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import grpc

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from load_tests.harness import Metadata

PRODUCT = "ELEV-REPAIR-STD"
RULE_SET = "civil_code_2021_art278"
REGION = "430202"  # 株洲市荷塘区
PROVINCE = "湘"  # GB/T 2260 43


def request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class InsuredElevator:
    elevator_id: str
    registration_code: str
    policy_id: str


class PolicyWorldBuilder:
    """Communities of a few flats, each with one inspected elevator under an active policy."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        metadata: Metadata,
        *,
        seed: int | None = None,
    ) -> None:
        self.stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self.md = metadata
        rng = random.Random(seed)
        # Registration sequences 00000–99999 and equipment sequences 0001–9999 per month:
        # start somewhere random and count up, so codes are unique within a run and unlikely
        # to meet an earlier run's.
        self._next = rng.randrange(1, 90_000)
        self._month = rng.randrange(1, 13)

    def _codes(self) -> tuple[str, str]:
        n = self._next
        self._next += 1
        registration = f"梯11{PROVINCE}B{n % 100_000:05d}(18)"
        equipment = f"3110{REGION}2018{self._month:02d}{n % 9_999 + 1:04d}"
        return registration, equipment

    async def insured_elevator(
        self, *, areas: Sequence[str] = ("90.00", "110.00", "100.00", "85.50", "120.25", "95.00")
    ) -> InsuredElevator:
        """One community whose appreciation income pays the whole premium, fully insured."""
        community = (
            await self.stub.RegisterCommunity(
                pb.RegisterCommunityRequest(
                    request_id=request_id(),
                    region_code=REGION,
                    name=f"压测小区{uuid.uuid4().hex[:8]}",
                    appreciation_balance_fen=500_000,
                ),
                metadata=self.md,
            )
        ).community
        flats = (
            await self.stub.RegisterFlats(
                pb.RegisterFlatsRequest(
                    request_id=request_id(),
                    community_id=community.community_id,
                    flats=[
                        pb.FlatInput(
                            building="1",
                            unit="1",
                            number=f"{i + 1:03d}",
                            floor_area_m2=area,
                            owner_id=f"owner-{uuid.uuid4().hex[:10]}",
                            owner_name="张三",
                        )
                        for i, area in enumerate(areas)
                    ],
                ),
                metadata=self.md,
            )
        ).flats
        registration, equipment = self._codes()
        elevator = (
            await self.stub.RegisterElevator(
                pb.RegisterElevatorRequest(
                    request_id=request_id(),
                    community_id=community.community_id,
                    building="1",
                    unit="1",
                    spec=pb.ElevatorSpec(
                        registration_code=registration,
                        equipment_code=equipment,
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
        ).elevator
        await self.stub.RecordInspection(
            pb.RecordInspectionRequest(
                request_id=request_id(),
                elevator_id=elevator.elevator_id,
                inspected_on="2026-06-01",
                result=pb.INSPECTION_RESULT_PASSED,
            ),
            metadata=self.md,
        )
        vote = (
            await self.stub.OpenVote(
                pb.OpenVoteRequest(
                    request_id=request_id(), elevator_id=elevator.elevator_id, rule_set=RULE_SET
                ),
                metadata=self.md,
            )
        ).vote
        await self.stub.CastBallots(
            pb.CastBallotsRequest(
                request_id=request_id(),
                vote_id=vote.vote_id,
                ballots=[
                    pb.Ballot(owner_id=f.owner_id, choice=pb.BALLOT_CHOICE_AGREE) for f in flats
                ],
            ),
            metadata=self.md,
        )
        closed = (
            await self.stub.CloseVote(
                pb.CloseVoteRequest(request_id=request_id(), vote_id=vote.vote_id), metadata=self.md
            )
        ).vote
        if closed.status != pb.VOTE_STATUS_PASSED:
            raise RuntimeError(f"the enrolment vote did not pass: {list(closed.explanation)}")
        policy = (
            await self.stub.IssuePolicy(
                pb.IssuePolicyRequest(
                    request_id=request_id(), elevator_id=elevator.elevator_id, product_code=PRODUCT
                ),
                metadata=self.md,
            )
        ).policy
        return InsuredElevator(
            elevator_id=elevator.elevator_id,
            registration_code=registration,
            policy_id=policy.policy_id,
        )

    async def insured_elevators(self, count: int) -> list[InsuredElevator]:
        """``count`` insured elevators, built a few at a time."""
        return list(await asyncio.gather(*(self.insured_elevator() for _ in range(count))))
