"""Claims adjudicated by the real pricing and validation services, over gRPC."""

from __future__ import annotations

import uuid

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.pricing.v1 import pricing_pb2 as prpb
from elevins.pricing.v1 import pricing_pb2_grpc
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from services.pricing.seed import demo_rows
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
