"""The pricing service over gRPC against the real PostgreSQL: import, judge, refuse rubbish."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import grpc
import pytest

from elevins.pricing.v1 import pricing_pb2 as pb
from elevins.pricing.v1 import pricing_pb2_grpc
from services.pricing.seed import REGION, demo_rows
from shared.errors import details_of
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration


def _row(r) -> pb.PriceObservation:
    return pb.PriceObservation(
        description=r.description,
        brand=r.brand,
        region=r.region,
        observed_on=r.observed_on,
        unit_price_fen=r.unit_price_fen,
        unit=r.unit,
        source=r.source,
    )


async def _stream(
    request_id: str, rows: list[pb.PriceObservation]
) -> AsyncIterator[pb.ImportPriceObservationsRequest]:
    for start in range(0, len(rows), 100):
        yield pb.ImportPriceObservationsRequest(
            request_id=request_id if start == 0 else "", rows=rows[start : start + 100]
        )


@pytest.fixture(scope="module")
async def priced(pricing_channel, mint) -> pricing_pb2_grpc.PricingServiceStub:
    stub = pricing_pb2_grpc.PricingServiceStub(pricing_channel)
    rows = [_row(r) for r in demo_rows()]
    await stub.ImportPriceObservations(
        _stream(f"seed-{uuid.uuid4().hex}", rows), metadata=meta(mint("partner"))
    )
    return stub


def quote(*lines: pb.QuoteLine, fault: str = "machine_noise") -> pb.Quote:
    return pb.Quote(
        quote_id=f"q-{uuid.uuid4().hex[:8]}",
        region=REGION,
        quoted_on="2026-11-20",
        elevator=pb.Elevator(
            registration_code="梯11湘B00001(18)",
            brand="奥的斯",
            rope_count=6,
            rope_length_m="60",
            landings=18,
            motor_kw="7.5",
        ),
        fault=pb.Fault(category=fault, description="主机异响"),
        lines=list(lines),
    )


async def test_a_file_with_bad_rows_reports_each_and_stores_only_the_good(
    pricing_channel, mint
) -> None:
    stub = pricing_pb2_grpc.PricingServiceStub(pricing_channel)
    good = [_row(r) for r in demo_rows()[:5]]
    bad = [
        pb.PriceObservation(
            description="",
            region=REGION,
            observed_on="2026-01-01",
            unit_price_fen=100,
            unit="个",
            source="supplier_list",
        ),
        pb.PriceObservation(
            description="变频器",
            region="999999",
            observed_on="2026-13-01",
            unit_price_fen=-5,
            unit="",
            source="gossip",
        ),
        pb.PriceObservation(
            description="全自动咖啡机",
            region=REGION,
            observed_on="2026-01-01",
            unit_price_fen=50_000,
            unit="把",
            source="supplier_list",
        ),
    ]
    request_id = f"file-{uuid.uuid4().hex}"
    reply = await stub.ImportPriceObservations(
        _stream(request_id, good + bad), metadata=meta(mint("partner"))
    )
    assert reply.accepted == 5
    by_row = {(r.row, r.field) for r in reply.rejected}
    assert (6, "description") in by_row
    assert {(7, f) for f in ("region", "observed_on", "unit_price_fen", "unit", "source")} <= by_row
    assert (8, "description") in by_row  # matches no part: never priced
    again = await stub.ImportPriceObservations(
        _stream(request_id, good + bad), metadata=meta(mint("partner"))
    )
    assert again.accepted == 5 and len(again.rejected) == len(reply.rejected)


async def test_a_padded_quote_is_trimmed_line_by_line_with_reasons(priced, mint) -> None:
    reply = await priced.BenchmarkQuote(
        pb.BenchmarkQuoteRequest(
            quote=quote(
                pb.QuoteLine(
                    line_no=1,
                    kind="part",
                    description="曳引机 7.5KW 原厂",
                    qty="1",
                    unit="台",
                    unit_price_fen=9_800_000,
                ),
                pb.QuoteLine(
                    line_no=2,
                    kind="part",
                    description="曳引钢丝绳φ10 （含安装）",
                    qty="500",
                    unit="米",
                    unit_price_fen=4_500,
                ),
                pb.QuoteLine(
                    line_no=3,
                    kind="part",
                    description="曳引机",
                    qty="1",
                    unit="台",
                    unit_price_fen=3_600_000,
                ),
                pb.QuoteLine(
                    line_no=4,
                    kind="part",
                    description="咖啡机",
                    qty="1",
                    unit="台",
                    unit_price_fen=100_000,
                ),
            )
        ),
        metadata=meta(mint("service")),
    )
    v = {ln.line_no: ln for ln in reply.verdict.lines}
    assert v[1].part_category == "traction_machine" and "PRICE_ABOVE_REFERENCE" in v[1].reasons
    assert v[1].approved_unit_price_fen < 9_800_000 and v[1].explanation
    assert "QTY_ABOVE_SPEC" in v[2].reasons and float(v[2].approved_qty) == 396  # 6 × 60 m + 10%
    assert "DUPLICATE_LINE" in v[3].reasons or "QTY_ABOVE_SPEC" in v[3].reasons
    assert v[4].part_category == "unknown" and "UNMATCHED_ITEM" in v[4].reasons
    assert v[4].approved_amount_fen == v[4].submitted_amount_fen  # never silently priced
    assert reply.verdict.approved_total_fen < reply.verdict.submitted_total_fen
    assert reply.verdict.reference_version.startswith("obs-")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda q: q.lines[0].__setattr__("unit_price_fen", -1), "quote.lines[0].unit_price_fen"),
        (lambda q: q.lines[0].__setattr__("description", ""), "quote.lines[0].description"),
        (lambda q: q.lines[0].__setattr__("qty", "0"), "quote.lines[0].qty"),
        (lambda q: q.__setattr__("region", "990000"), "quote.region"),
        (lambda q: q.lines.extend([q.lines[0]] * 10_000), "quote.lines"),
    ],
    ids=["negative price", "empty description", "qty 0", "unknown region", "10,000 lines"],
)
async def test_bad_quotes_are_invalid_arguments_with_fields(
    pricing_channel, mint, change, field
) -> None:
    stub = pricing_pb2_grpc.PricingServiceStub(pricing_channel)
    q = quote(
        pb.QuoteLine(
            line_no=1,
            kind="part",
            description="变频器",
            qty="1",
            unit="台",
            unit_price_fen=1_000_000,
        )
    )
    change(q)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.BenchmarkQuote(pb.BenchmarkQuoteRequest(quote=q), metadata=meta(mint("service")))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in {v.field for v in details_of(caught.value).violations}
