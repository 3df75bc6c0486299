"""Bad input to the claims API gets a precise status with the offending fields, never INTERNAL."""

from __future__ import annotations

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from shared.errors import details_of
from tests.integration.claims.helpers import INVERTER, Actors, insured_registration_code, rid

pytestmark = pytest.mark.integration


async def _fails(call, *args, **kwargs) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call(*args, **kwargs)
    assert caught.value.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN)
    return caught.value


async def test_unknown_elevator_is_not_found(claims_channel, mint) -> None:
    a = Actors(claims_channel, mint, contractor="ctr-bad")
    error = await _fails(a.report, "梯11湘B99998(99)")
    assert error.code() == grpc.StatusCode.NOT_FOUND
    malformed = await _fails(a.report, "not-a-code")
    assert malformed.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_report_names_every_bad_field(claims_channel, policy_channel, mint) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-bad")
    error = await _fails(
        a.stub.ReportLoss,
        pb.ReportLossRequest(
            source=pb.SOURCE_IOT_ALARM,
            source_event_id="has space",
            registration_code=code,
            fault_category="meteor",
            description="x" * 3000,
        ),
        metadata=a.iot,
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in details_of(error).violations} == {
        "source_event_id",
        "category",
        "description",
    }


async def test_wrong_state_missing_request_id_and_absurd_amounts(
    claims_channel, policy_channel, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-bad")
    claim_id = (await a.report(code)).claim.claim_id
    wrong_state = await _fails(
        a.stub.PayClaim, pb.PayClaimRequest(request_id=rid(), claim_id=claim_id), metadata=a.service
    )
    assert wrong_state.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(wrong_state).reason == "ILLEGAL_TRANSITION"
    no_id = await _fails(
        a.stub.DispatchContractor,
        pb.DispatchContractorRequest(claim_id=claim_id, contractor_id="c"),
        metadata=a.adjuster,
    )
    assert no_id.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(no_id).violations] == ["request_id"]
    await a.stub.DispatchContractor(
        pb.DispatchContractorRequest(
            request_id=rid(), claim_id=claim_id, contractor_id=a.contractor_id
        ),
        metadata=a.adjuster,
    )
    await a.stub.RecordArrival(
        pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id), metadata=a.contractor
    )
    absurd = await _fails(
        a.stub.SubmitQuote,
        pb.SubmitQuoteRequest(
            request_id=rid(),
            claim_id=claim_id,
            lines=[
                pb.QuoteLineInput(
                    description="曳引机", quantity="-1", unit="台", unit_price_fen=100
                ),
                pb.QuoteLineInput(description="钢丝绳", quantity="1", unit="米", unit_price_fen=-5),
                pb.QuoteLineInput(
                    description="主板", quantity="1", unit="块", unit_price_fen=9_000_000_000
                ),
            ],
        ),
        metadata=a.contractor,
    )
    assert absurd.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = {v.field for v in details_of(absurd).violations}
    assert {"lines[0].quantity", "lines[1].unit_price_fen"} <= fields and any(
        f.startswith("lines[2]") for f in fields
    )
    not_yours = await _fails(
        a.stub.SubmitQuote,
        pb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=[INVERTER]),
        metadata=Actors(claims_channel, mint, contractor="ctr-someone-else").contractor,
    )
    assert not_yours.code() == grpc.StatusCode.PERMISSION_DENIED
    contractor_approving = await _fails(
        a.stub.DecideClaim,
        pb.DecideClaimRequest(request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE),
        metadata=a.contractor,
    )
    assert contractor_approving.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_oversized_messages_are_refused_and_the_server_stays_up(claims_channel, mint) -> None:
    a = Actors(claims_channel, mint, contractor="ctr-bad")
    error = await _fails(
        a.stub.ReportLoss,
        pb.ReportLossRequest(
            source=pb.SOURCE_IOT_ALARM,
            source_event_id="big",
            registration_code="梯11湘B00001(18)",
            description="异" * 3_000_000,
        ),
        metadata=a.iot,
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    missing = await _fails(
        a.stub.GetClaim, pb.GetClaimRequest(claim_id="clm_missing"), metadata=a.adjuster
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND
