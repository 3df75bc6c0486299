"""The policy API as a partner sees it: discovery, authentication, and precise errors.

These talk to the real server over gRPC (loopback) and check the status codes, reasons and
field violations that partners program against.
"""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from shared.auth import mint_token
from shared.errors import details_of
from tests.integration.policy.helpers import World, equipment_code, meta, registration_code, rid

pytestmark = pytest.mark.integration

SERVICE = "elevins.policy.v1.PolicyService"


async def _fails(call, *args, **kwargs) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(*args, **kwargs)
    return caught.value


async def test_health_answers_without_a_token(policy_channel) -> None:
    health = health_pb2_grpc.HealthStub(policy_channel)
    for service in ("", SERVICE):
        reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


async def test_a_partner_discovers_the_api_by_reflection(policy_channel, mint) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(policy_channel)
    requests = [
        reflection_pb2.ServerReflectionRequest(list_services=""),
        reflection_pb2.ServerReflectionRequest(file_containing_symbol=SERVICE),
    ]
    replies = [
        r async for r in stub.ServerReflectionInfo(iter(requests), metadata=meta(mint("partner")))
    ]
    listed = {s.name for s in replies[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health"} <= listed
    from google.protobuf import descriptor_pb2

    files = [
        descriptor_pb2.FileDescriptorProto.FromString(raw)
        for raw in replies[1].file_descriptor_response.file_descriptor_proto
    ]
    served = {
        m.name for f in files for s in f.service if s.name == "PolicyService" for m in s.method
    }
    assert served == set(pb.DESCRIPTOR.services_by_name["PolicyService"].methods_by_name)


async def test_reflection_needs_a_token_too(policy_channel) -> None:
    stub = reflection_pb2_grpc.ServerReflectionStub(policy_channel)
    call = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for _ in call:
            pass
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("token", ["", "not-a-token", "v1.e30.AAAA"])
async def test_calls_without_a_valid_token_are_unauthenticated(policy_channel, token) -> None:
    stub = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    md = meta(token) if token else None
    error = await _fails(stub.ListProducts, pb.ListProductsRequest(), metadata=md)
    assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_expired_and_foreign_tokens_are_refused(policy_channel, auth_key) -> None:
    stub = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    expired = mint_token(
        auth_key, subject="x", role="service", regions=["*"], ttl_seconds=60, now=time.time() - 3600
    )
    foreign = mint_token("ab" * 32, subject="x", role="service", regions=["*"], ttl_seconds=60)
    for token in (expired, foreign):
        error = await _fails(stub.ListProducts, pb.ListProductsRequest(), metadata=meta(token))
        assert error.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_roles_and_regions_are_enforced(policy_channel, mint) -> None:
    world = World(policy_channel, mint("service"))
    community = await world.community(region="430202")
    await world.flats(community.community_id, ["80.00"])
    elevator = await world.elevator(community.community_id)
    contractor = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    denied = await _fails(
        contractor.IssuePolicy,
        pb.IssuePolicyRequest(
            request_id=rid(), elevator_id=elevator.elevator_id, product_code="ELEV-REPAIR-STD"
        ),
        metadata=meta(mint("contractor", regions=("430202",))),
    )
    assert denied.code() == grpc.StatusCode.PERMISSION_DENIED
    elsewhere = await _fails(
        contractor.GetElevator,
        pb.GetElevatorRequest(elevator_id=elevator.elevator_id),
        metadata=meta(mint("adjuster", regions=("4301",))),
    )
    assert elsewhere.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(elsewhere).reason == "REGION_FORBIDDEN"
    same_city = await contractor.GetElevator(
        pb.GetElevatorRequest(elevator_id=elevator.elevator_id),
        metadata=meta(mint("adjuster", regions=("4302",))),
    )
    assert same_city.elevator.elevator_id == elevator.elevator_id


async def test_unknown_elevator_is_not_found(policy_channel, mint) -> None:
    stub = policy_pb2_grpc.PolicyServiceStub(policy_channel)
    error = await _fails(
        stub.GetElevator, pb.GetElevatorRequest(elevator_id="elv_missing"), metadata=meta(mint())
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert [v.field for v in details_of(error).violations] == ["elevator_id"]
    error = await _fails(
        stub.CheckCoverage,
        pb.CheckCoverageRequest(
            registration_code="梯11湘B99999(99)",
            peril="mechanical_failure",
            loss_time={"seconds": 1_800_000_000},
        ),
        metadata=meta(mint()),
    )
    assert error.code() == grpc.StatusCode.NOT_FOUND


async def test_malformed_codes_name_every_bad_field(policy_channel, mint) -> None:
    world = World(policy_channel, mint())
    community = await world.community()
    error = await _fails(
        world.stub.RegisterElevator,
        pb.RegisterElevatorRequest(
            request_id=rid(),
            community_id=community.community_id,
            building="1",
            unit="1",
            spec=pb.ElevatorSpec(
                registration_code="11湘B123",
                equipment_code="31104302",
                brand="三菱",
                landings=18,
                rope_count=99,
                rope_length_m="60",
                motor_kw="-1",
            ),
        ),
        metadata=world.md,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in details_of(error).violations}
    assert fields == {
        "spec.registration_code",
        "spec.equipment_code",
        "spec.rope_count",
        "spec.motor_kw",
    }


async def test_negative_areas_and_missing_request_ids_are_invalid(policy_channel, mint) -> None:
    world = World(policy_channel, mint())
    community = await world.community()
    error = await _fails(
        world.stub.RegisterFlats,
        pb.RegisterFlatsRequest(
            request_id=rid(),
            community_id=community.community_id,
            flats=[
                pb.FlatInput(
                    building="1",
                    unit="1",
                    number="101",
                    floor_area_m2="-80.5",
                    owner_id="o1",
                    owner_name="李四",
                ),
                pb.FlatInput(
                    building="1",
                    unit="1",
                    number="102",
                    floor_area_m2="80.555",
                    owner_id="o2",
                    owner_name="王五",
                ),
            ],
        ),
        metadata=world.md,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in details_of(error).violations} == {
        "flats[0].floor_area_m2",
        "flats[1].floor_area_m2",
    }
    error = await _fails(
        world.stub.RegisterCommunity,
        pb.RegisterCommunityRequest(region_code="430202", name="x"),
        metadata=world.md,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(error).violations] == ["request_id"]


async def test_a_vote_with_no_electorate_is_a_failed_precondition(policy_channel, mint) -> None:
    world = World(policy_channel, mint())
    community = await world.community()
    elevator = await world.elevator(community.community_id, unit="9")  # a unit with no flats
    error = await _fails(
        world.stub.OpenVote,
        pb.OpenVoteRequest(
            request_id=rid(), elevator_id=elevator.elevator_id, rule_set="civil_code_2021_art278"
        ),
        metadata=world.md,
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(error).reason == "EMPTY_ELECTORATE"


async def test_exactly_two_thirds_passes_the_property_law_vote_and_one_owner_short_fails(
    policy_channel, mint
) -> None:
    world = World(policy_channel, mint())
    for agreeing, expected in ((2, pb.VOTE_STATUS_PASSED), (1, pb.VOTE_STATUS_FAILED)):
        community = await world.community()
        flats = await world.flats(community.community_id, ["100.00", "100.00", "100.00"])
        elevator = await world.elevator(community.community_id)
        choices = {f.owner_id: pb.BALLOT_CHOICE_AGREE for f in flats[:agreeing]}
        choices.update({f.owner_id: pb.BALLOT_CHOICE_DISAGREE for f in flats[agreeing:]})
        vote = await world.vote(elevator.elevator_id, choices, rule_set="property_law_2007")
        assert vote.status == expected, vote.explanation
        assert vote.tally.agree_area.startswith("2/3" if agreeing == 2 else "1/3")


async def test_a_policy_needs_a_passed_vote(policy_channel, mint) -> None:
    world = World(policy_channel, mint())
    community = await world.community()
    await world.flats(community.community_id, ["90.00"])
    elevator = await world.elevator(community.community_id)
    error = await _fails(
        world.stub.IssuePolicy,
        pb.IssuePolicyRequest(
            request_id=rid(), elevator_id=elevator.elevator_id, product_code="ELEV-REPAIR-STD"
        ),
        metadata=world.md,
    )
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(error).reason == "POLICY_NOT_ISSUABLE"


def test_codes_used_by_helpers_are_valid() -> None:
    from services.policy.domain.codes import normalise_registration_code, validate_equipment_code

    assert validate_equipment_code(equipment_code()).format == "registration_20"
    assert normalise_registration_code(registration_code()).startswith("梯11湘B")
