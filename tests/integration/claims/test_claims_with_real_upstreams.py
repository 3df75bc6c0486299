"""Claims adjudicated by the real pricing and validation services, over gRPC."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.pricing.v1 import pricing_pb2 as prpb
from elevins.pricing.v1 import pricing_pb2_grpc
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from services.pricing.seed import demo_rows
from shared.errors import details_of
from tests.integration.claims.helpers import (
    TRACTION_MACHINE,
    Actors,
    insured_registration_code,
    rid,
)
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration


async def _prices(pricing_channel, token: str) -> None:
    rows = [
        prpb.PriceObservation(
            description=r.description,
            brand=r.brand,
            region=r.region,
            observed_on=r.observed_on,
            unit_price_fen=r.unit_price_fen,
            unit=r.unit,
            source=r.source,
        )
        for r in demo_rows()
    ]

    async def stream():
        yield prpb.ImportPriceObservationsRequest(
            request_id=f"claims-{uuid.uuid4().hex}", rows=rows
        )

    await pricing_pb2_grpc.PricingServiceStub(pricing_channel).ImportPriceObservations(
        stream(), metadata=meta(token)
    )


async def test_a_claim_is_priced_and_checked_by_the_real_services(
    claims_addr,  # migrates the claims schema this second claims server uses
    service_environ,
    policy_addr,
    pricing_addr,
    pricing_channel,
    validation_addr,
    policy_channel,
    mint,
) -> None:
    await _prices(pricing_channel, mint("partner"))
    settings = ClaimsSettings.from_env(
        {
            **service_environ,
            "POLICY_ADDR": policy_addr,
            "PRICING_ADDR": pricing_addr,
            "VALIDATION_ADDR": validation_addr,
        }
    )
    app, _ = build_app(settings, port=0)
    server, port = await app.start()
    try:
        code = await insured_registration_code(policy_channel, mint)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            a = Actors(channel, mint, contractor="ctr-real")
            # Reported by an adjuster: no IoT alarm and no property report behind the repair.
            claim_id = (
                await a.stub.ReportLoss(
                    pb.ReportLossRequest(
                        source=pb.SOURCE_ADJUSTER,
                        source_event_id=rid(),
                        registration_code=code,
                        fault_category="abnormal_noise",
                        description="巡检发现主机异响",
                    ),
                    metadata=a.adjuster,
                )
            ).claim.claim_id
            padded = pb.QuoteLineInput(
                description=TRACTION_MACHINE.description,
                quantity="1",
                unit="台",
                unit_price_fen=9_800_000,
            )
            claim = await a.to_under_review(claim_id, [padded])
    finally:
        await app.stop(server)
    steps = {t.step: t for t in claim.recommendation.trace}
    assert steps["pricing"].source == "pricing@v1"
    assert steps["validation"].source == "validation@claims"
    assert "CLAIM_NO_ALARM_OR_REPORT" in steps["validation"].detail
    line = claim.quote.lines[0]
    assert "PRICE_ABOVE_REFERENCE" in line.reason_codes and line.approved_fen < line.amount_fen
    assert claim.recommendation.needs_person and claim.state == "under_review"


async def test_a_blacklisted_contractors_claim_is_held_and_gets_no_new_work(
    claims_addr,  # migrates the claims schema this second claims server uses
    service_environ,
    policy_addr,
    policy_channel,
    contractors_addr,
    contractors_channel,
    mint,
) -> None:
    from elevins.contractors.v1 import contractors_pb2 as cpb
    from elevins.contractors.v1 import contractors_pb2_grpc

    contractors = contractors_pb2_grpc.ContractorsServiceStub(contractors_channel)
    cid = f"ctr-{uuid.uuid4().hex[:8]}"
    await contractors.RegisterContractor(
        cpb.RegisterContractorRequest(
            request_id=rid(),
            contractor_id=cid,
            name="株洲某电梯维修部",
            licence_no=f"TS-{cid}",
            regions=["430202"],
        ),
        metadata=meta(mint("service")),
    )
    settings = ClaimsSettings.from_env(
        {**service_environ, "POLICY_ADDR": policy_addr, "CONTRACTORS_ADDR": contractors_addr}
    )
    app, _ = build_app(settings, port=0)
    server, port = await app.start()
    try:
        code = await insured_registration_code(policy_channel, mint)
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            a = Actors(channel, mint, contractor=cid)
            claim_id = (await a.report(code)).claim.claim_id
            await a.stub.DispatchContractor(
                pb.DispatchContractorRequest(
                    request_id=rid(), claim_id=claim_id, contractor_id=cid
                ),
                metadata=a.adjuster,
            )
            # Blacklisted while on the job: two supervisors, one requests, the other approves.
            override = await contractors.RequestOverride(
                cpb.RequestOverrideRequest(
                    request_id=rid(),
                    contractor_id=cid,
                    status="black",
                    reason="虚报维修项目",
                    effective_from="2026-12",
                ),
                metadata=meta(mint("supervisor", subject="sup-chen", regions=("4302",))),
            )
            await contractors.ApproveOverride(
                cpb.ApproveOverrideRequest(
                    request_id=rid(), override_id=override.override.override_id
                ),
                metadata=meta(mint("supervisor", subject="sup-liu", regions=("4302",))),
            )
            await a.stub.RecordArrival(
                pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id),
                metadata=a.contractor,
            )
            claim = (
                await a.stub.SubmitQuote(
                    pb.SubmitQuoteRequest(
                        request_id=rid(), claim_id=claim_id, lines=[TRACTION_MACHINE]
                    ),
                    metadata=a.contractor,
                )
            ).claim
            new_claim = (await a.report(code)).claim.claim_id
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await a.stub.DispatchContractor(
                    pb.DispatchContractorRequest(
                        request_id=rid(), claim_id=new_claim, contractor_id=cid
                    ),
                    metadata=a.adjuster,
                )
    finally:
        await app.stop(server)
    assert "CONTRACTOR_BLACKLISTED" in claim.recommendation.reason_codes
    assert claim.recommendation.needs_person and claim.state == "under_review"
    contractor_step = next(t for t in claim.recommendation.trace if t.step == "contractor")
    assert (
        contractor_step.source == "contractors@claims"
        and "MANUAL_OVERRIDE" in contractor_step.detail
    )
    error = details_of(refused.value)
    assert (error.code, error.reason) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "CONTRACTOR_BLACKLISTED",
    )


async def test_a_photo_reused_from_another_claim_holds_the_quote_for_a_person(
    claims_addr,  # migrates the claims schema this second claims server uses
    service_environ,
    policy_addr,
    policy_channel,
    evidence_app,
    evidence_channel,
    mint,
) -> None:
    from elevins.evidence.v1 import evidence_pb2 as epb
    from elevins.evidence.v1 import evidence_pb2_grpc
    from tests.integration.evidence.test_evidence_service import (
        contractor,
        photo,
        recompressed,
        stream_upload,
    )

    evidence = evidence_pb2_grpc.EvidenceServiceStub(evidence_channel)
    settings = ClaimsSettings.from_env(
        {**service_environ, "POLICY_ADDR": policy_addr, "EVIDENCE_ADDR": evidence_app[0]}
    )
    app, _ = build_app(settings, port=0)
    server, port = await app.start()
    original = photo(seed=41)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            first, second = f"ctr-{uuid.uuid4().hex[:8]}", f"ctr-{uuid.uuid4().hex[:8]}"
            quoted = {}
            for cid, upload in ((first, original), (second, recompressed(original)), (first, None)):
                a = Actors(channel, mint, contractor=cid)
                code = await insured_registration_code(policy_channel, mint)
                claim_id = (await a.report(code)).claim.claim_id
                # Dispatch opens the claim's evidence folder: only now may the contractor upload.
                await a.stub.DispatchContractor(
                    pb.DispatchContractorRequest(
                        request_id=rid(), claim_id=claim_id, contractor_id=cid
                    ),
                    metadata=a.adjuster,
                )
                if upload is not None:
                    await stream_upload(evidence, contractor(mint, cid), claim_id, upload)
                await a.stub.RecordArrival(
                    pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id),
                    metadata=a.contractor,
                )
                quoted[claim_id] = (
                    await a.stub.SubmitQuote(
                        pb.SubmitQuoteRequest(
                            request_id=rid(), claim_id=claim_id, lines=[TRACTION_MACHINE]
                        ),
                        metadata=a.contractor,
                    )
                ).claim
            # The adjuster rejects the reuse: the evidence it rests on becomes write-once.
            rejected_id = list(quoted)[1]
            await a.stub.DecideClaim(
                pb.DecideClaimRequest(
                    request_id=rid(),
                    claim_id=rejected_id,
                    kind=pb.DECISION_KIND_REJECT,
                    reason_codes=["EVIDENCE_FLAGGED"],
                    note="照片重复使用",
                ),
                metadata=a.adjuster,
            )
            kept = await evidence.ListClaimEvidence(
                epb.ListClaimEvidenceRequest(claim_id=rejected_id), metadata=meta(mint("service"))
            )
    finally:
        await app.stop(server)
    first_claim, reused, bare = quoted.values()
    steps = {
        c.claim_id: next(t for t in c.recommendation.trace if t.step == "evidence")
        for c in quoted.values()
    }
    assert "EVIDENCE_FLAGGED" in reused.recommendation.reason_codes
    assert reused.recommendation.needs_person and reused.state == "under_review"
    assert steps[reused.claim_id].source == "evidence@claims"
    assert "PHOTO_REUSED_ACROSS_CLAIMS" in steps[reused.claim_id].detail
    assert first_claim.claim_id in steps[reused.claim_id].detail
    # Nothing uploaded is no ground to pay on either.
    assert "NO_EVIDENCE" in steps[bare.claim_id].detail and bare.recommendation.needs_person
    [locked] = kept.evidence
    years = (locked.retained_until.ToDatetime(tzinfo=UTC) - datetime.now(UTC)).days / 365.25
    assert 5.9 < years < 6.1
