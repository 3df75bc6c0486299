"""Rubbish in, a precise status out: no bad request may reach INTERNAL or UNKNOWN."""

from __future__ import annotations

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from tests.integration.policy.helpers import meta, rid

pytestmark = pytest.mark.integration

PRECISE = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.FAILED_PRECONDITION,
}

BAD_REQUESTS = [
    (
        "CheckCoverage",
        pb.CheckCoverageRequest(registration_code="梯11湘B00001(18)", peril="meteor"),
    ),
    (
        "CheckCoverage",
        pb.CheckCoverageRequest(
            registration_code="not a code", peril="fire", loss_time={"seconds": 1_800_000_000}
        ),
    ),
    (
        "CheckCoverage",
        pb.CheckCoverageRequest(
            registration_code="梯11湘B00001(18)",
            peril="fire",
            loss_time={"seconds": 253_402_300_800},
        ),
    ),
    ("GetElevator", pb.GetElevatorRequest(registration_code="梯99XX")),
    ("GetElevator", pb.GetElevatorRequest()),
    ("GetPolicy", pb.GetPolicyRequest(policy_id="pol_nope")),
    ("GetVote", pb.GetVoteRequest()),
    (
        "RegisterCommunity",
        pb.RegisterCommunityRequest(
            request_id=rid(), region_code="43020", name="", appreciation_balance_fen=-1
        ),
    ),
    (
        "RegisterFlats",
        pb.RegisterFlatsRequest(
            request_id=rid(),
            community_id="com_nope",
            flats=[
                pb.FlatInput(
                    building="1",
                    unit="1",
                    number="1",
                    floor_area_m2="90",
                    owner_id="o",
                    owner_name="x",
                )
            ],
        ),
    ),
    (
        "RegisterFlats",
        pb.RegisterFlatsRequest(
            request_id=rid(), community_id="com_x", flats=[pb.FlatInput(floor_area_m2="NaN")]
        ),
    ),
    (
        "RecordInspection",
        pb.RecordInspectionRequest(
            request_id=rid(),
            elevator_id="elv_nope",
            inspected_on="2026-02-30",
            result=pb.INSPECTION_RESULT_PASSED,
        ),
    ),
    (
        "RecordInspection",
        pb.RecordInspectionRequest(
            request_id=rid(),
            elevator_id="elv_nope",
            inspected_on="2026-02-01",
            result=pb.INSPECTION_RESULT_PASSED,
        ),
    ),
    (
        "OpenVote",
        pb.OpenVoteRequest(request_id=rid(), elevator_id="elv_nope", rule_set="no_such_rule"),
    ),
    (
        "CastBallots",
        pb.CastBallotsRequest(
            request_id=rid(), vote_id="vot_nope", ballots=[pb.Ballot(owner_id="o")]
        ),
    ),
    ("CloseVote", pb.CloseVoteRequest(request_id=rid(), vote_id="vot_nope")),
    (
        "IssuePolicy",
        pb.IssuePolicyRequest(request_id=rid(), elevator_id="elv_nope", product_code="NOPE"),
    ),
    ("CancelPolicy", pb.CancelPolicyRequest(request_id=rid(), policy_id="pol_nope", reason="x")),
    ("RenewPolicy", pb.RenewPolicyRequest(request_id=rid(), policy_id="pol_nope")),
    ("ReserveLimit", pb.ReserveLimitRequest(claim_id="c", policy_id="pol_nope", amount_fen=1)),
    ("ReserveLimit", pb.ReserveLimitRequest(claim_id="c", policy_id="p", amount_fen=-5)),
    ("PayLimit", pb.PayLimitRequest(claim_id="clm_nope", amount_fen=1)),
    ("ReleaseLimit", pb.ReleaseLimitRequest(claim_id="clm_nope")),
]


@pytest.mark.parametrize(
    ("method", "request_message"), BAD_REQUESTS, ids=[m for m, _ in BAD_REQUESTS]
)
async def test_bad_requests_get_precise_codes(
    policy_channel, mint, method, request_message
) -> None:
    stub = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await getattr(stub, method)(request_message, metadata=meta(mint("service")))
    assert caught.value.code() in PRECISE, caught.value.details()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    code=st.text(max_size=30),
    equipment=st.text(alphabet="0123456789０１２ -", max_size=24),
    landings=st.integers(min_value=-(2**31), max_value=2**31 - 1),
    area=st.text(max_size=12),
)
async def test_random_registry_input_never_breaks_the_server(
    policy_channel, mint, code, equipment, landings, area
) -> None:
    stub = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    md = meta(mint("service"))
    calls = [
        stub.RegisterElevator(
            pb.RegisterElevatorRequest(
                request_id=rid(),
                community_id="com_nope",
                building="1",
                unit="1",
                spec=pb.ElevatorSpec(
                    registration_code=code,
                    equipment_code=equipment,
                    brand="b",
                    landings=landings,
                    rope_count=4,
                    rope_length_m=area,
                    motor_kw="7.5",
                ),
            ),
            metadata=md,
        ),
        stub.CheckCoverage(
            pb.CheckCoverageRequest(registration_code=code, peril="fire", loss_time={"seconds": 1}),
            metadata=md,
        ),
    ]
    for call in calls:
        try:
            await call
        except grpc.aio.AioRpcError as error:
            assert error.code() in PRECISE, (error.code(), error.details())
