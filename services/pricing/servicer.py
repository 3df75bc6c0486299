"""Protobuf ⇄ core for the pricing service: field checks and status codes. No rules here."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from elevins.pricing.v1 import pricing_pb2 as pb
from elevins.pricing.v1 import pricing_pb2_grpc
from services.pricing.core.rules import Elevator, Fault, QuoteLine, QuoteVerdict
from services.pricing.regions import region_problem
from services.pricing.usecases import PricingUseCases, RawObservation
from shared.auth import Role, require_role
from shared.errors import Violations

MAX_LINES = 500
MAX_IMPORT_ROWS = 200_000
KINDS = ("part", "labour")
READERS = (
    Role.SERVICE,
    Role.PARTNER,
    Role.SUPERVISOR,
    Role.ADJUSTER,
    Role.SENIOR_REVIEWER,
    Role.AUDITOR,
    Role.CONTRACTOR,
)
IMPORTERS = (Role.SERVICE, Role.PARTNER, Role.SUPERVISOR)


def _decimal(text: str, field: str, v: Violations, *, positive: bool = True) -> Decimal | None:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        v.add(field, f"must be a decimal number, got {text!r}")
        return None
    if not value.is_finite() or (positive and value <= 0):
        v.add(field, f"must be greater than 0, got {text!r}")
        return None
    return value


def _day(text: str, field: str, v: Violations) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        v.add(field, f"must be a date YYYY-MM-DD, got {text!r}")
        return None


def parse_quote(q: pb.Quote) -> tuple[list[QuoteLine], Elevator, Fault, date]:
    """Every problem of the quote at once (INVALID_ARGUMENT with field violations)."""
    v = Violations()
    why = region_problem(q.region)
    if why:
        v.add("quote.region", why)
    quoted_on = _day(q.quoted_on, "quote.quoted_on", v)
    if not 0 < len(q.lines) <= MAX_LINES:
        v.add("quote.lines", f"1 to {MAX_LINES} lines, got {len(q.lines)}")
        v.raise_if_any()  # say it alone: the lines themselves are not worth checking
    e = q.elevator
    v.require(e.rope_count > 0, "quote.elevator.rope_count", "must be positive")
    v.require(e.landings > 1, "quote.elevator.landings", "at least 2")
    rope_length = _decimal(e.rope_length_m, "quote.elevator.rope_length_m", v)
    motor_kw = _decimal(e.motor_kw, "quote.elevator.motor_kw", v)
    lines: list[QuoteLine] = []
    seen: set[int] = set()
    for i, ln in enumerate(q.lines[:MAX_LINES]):
        where = f"quote.lines[{i}]"
        v.require(ln.kind in KINDS, f"{where}.kind", "part or labour")
        v.require(bool(ln.description.strip()), f"{where}.description", "required")
        v.require(len(ln.description) <= 500, f"{where}.description", "at most 500 characters")
        v.require(bool(ln.unit.strip()), f"{where}.unit", "required")
        v.require(ln.unit_price_fen >= 0, f"{where}.unit_price_fen", "must not be negative")
        v.require(ln.unit_price_fen <= 2_000_000_000, f"{where}.unit_price_fen", "absurd")
        v.require(ln.line_no not in seen, f"{where}.line_no", "line numbers must be unique")
        seen.add(ln.line_no)
        qty = _decimal(ln.qty, f"{where}.qty", v)
        if qty is not None and qty > 100_000:
            v.add(f"{where}.qty", "absurd quantity")
        if qty is not None and ln.kind in KINDS:
            lines.append(
                QuoteLine(
                    line_no=ln.line_no,
                    kind=ln.kind,
                    description=ln.description,
                    qty=qty,
                    unit=ln.unit.strip(),
                    unit_price_fen=ln.unit_price_fen,
                )
            )
    v.raise_if_any()
    assert quoted_on is not None and rope_length is not None and motor_kw is not None
    elevator = Elevator(
        brand=e.brand,
        rope_count=e.rope_count,
        rope_length_m=rope_length,
        landings=e.landings,
        motor_kw=motor_kw,
    )
    return (
        lines,
        elevator,
        Fault(category=q.fault.category, description=q.fault.description),
        quoted_on,
    )


def verdict_pb(quote_id: str, verdict: QuoteVerdict, catalogue_version: str) -> pb.QuoteVerdict:
    return pb.QuoteVerdict(
        quote_id=quote_id,
        lines=[
            pb.LineVerdict(
                line_no=ln.line_no,
                part_category=ln.part_category,
                reference_unit_price_fen=ln.reference_unit_price_fen,
                approved_qty=str(ln.approved_qty),
                approved_unit_price_fen=ln.approved_unit_price_fen,
                submitted_amount_fen=ln.submitted_amount_fen,
                approved_amount_fen=ln.approved_amount_fen,
                reasons=list(ln.reasons),
                explanation=ln.explanation,
            )
            for ln in verdict.lines
        ],
        submitted_total_fen=verdict.submitted_total_fen,
        approved_total_fen=verdict.approved_total_fen,
        reference_version=verdict.reference_version,
        catalogue_version=catalogue_version,
    )


class PricingServicer(pricing_pb2_grpc.PricingServiceServicer):
    def __init__(self, usecases: PricingUseCases) -> None:
        self.uc = usecases

    async def _judge(self, quote: pb.Quote) -> pb.QuoteVerdict:
        lines, elevator, fault, quoted_on = parse_quote(quote)
        await self.uc.ensure_fresh()
        verdict = self.uc.benchmark(
            lines=lines, elevator=elevator, fault=fault, region=quote.region, quoted_on=quoted_on
        )
        return verdict_pb(quote.quote_id, verdict, self.uc.catalogue.version)

    async def BenchmarkQuote(
        self, request: pb.BenchmarkQuoteRequest, context: Any
    ) -> pb.BenchmarkQuoteResponse:
        require_role(*READERS)
        return pb.BenchmarkQuoteResponse(verdict=await self._judge(request.quote))

    async def BenchmarkQuotes(
        self, request_iterator: AsyncIterator[pb.BenchmarkQuotesRequest], context: Any
    ) -> AsyncIterator[pb.BenchmarkQuotesResponse]:
        require_role(*READERS)
        async for request in request_iterator:
            yield pb.BenchmarkQuotesResponse(verdict=await self._judge(request.quote))

    async def ImportPriceObservations(
        self, request_iterator: AsyncIterator[pb.ImportPriceObservationsRequest], context: Any
    ) -> pb.ImportPriceObservationsResponse:
        require_role(*IMPORTERS)
        request_id = ""
        rows: list[RawObservation] = []
        async for message in request_iterator:
            request_id = request_id or message.request_id
            for r in message.rows:
                if len(rows) >= MAX_IMPORT_ROWS:
                    too_many = Violations()
                    too_many.add("rows", f"at most {MAX_IMPORT_ROWS} rows per import; split it")
                    too_many.raise_if_any()
                rows.append(
                    RawObservation(
                        row=len(rows) + 1,
                        description=r.description,
                        brand=r.brand,
                        region=r.region,
                        observed_on=r.observed_on,
                        unit_price_fen=r.unit_price_fen,
                        unit=r.unit,
                        source=r.source,
                    )
                )
        v = Violations()
        v.require(bool(request_id.strip()), "request_id", "required in the first message")
        v.require(bool(rows), "rows", "at least one row")
        v.raise_if_any()
        report = await self.uc.import_observations(request_id=request_id, rows=rows)
        return pb.ImportPriceObservationsResponse(
            accepted=report.accepted,
            rejected=[
                pb.RejectedRow(row=r.row, field=r.field, reason=r.reason) for r in report.rejected
            ],
            reference_version=report.reference_version,
        )

    async def GetReferencePrice(
        self, request: pb.GetReferencePriceRequest, context: Any
    ) -> pb.GetReferencePriceResponse:
        require_role(*READERS)
        v = Violations()
        v.require(
            self.uc.catalogue.get(request.category) is not None, "category", "a catalogue code"
        )
        why = region_problem(request.region)
        if why:
            v.add("region", why)
        on = _day(request.on, "on", v)
        v.raise_if_any()
        assert on is not None
        await self.uc.ensure_fresh()
        ref = self.uc.reference(
            category=request.category, region=request.region, on=on, brand=request.brand or None
        )
        if ref is None:
            return pb.GetReferencePriceResponse(found=False, version=self.uc.book.version)
        return pb.GetReferencePriceResponse(
            found=True,
            median_fen=ref.median_fen,
            low_fen=ref.low_fen,
            high_fen=ref.high_fen,
            observations=ref.n,
            basis=str(ref.basis),
            version=ref.version,
        )

    async def ListCategories(
        self, request: pb.ListCategoriesRequest, context: Any
    ) -> pb.ListCategoriesResponse:
        require_role(*READERS)
        return pb.ListCategoriesResponse(
            categories=[
                pb.Category(
                    code=c.code,
                    name_zh=c.name_zh,
                    name_en=c.name_en,
                    units=list(c.units),
                    aliases=list(c.aliases),
                )
                for c in self.uc.catalogue.categories.values()
            ],
            catalogue_version=self.uc.catalogue.version,
        )

    async def MatchDescription(
        self, request: pb.MatchDescriptionRequest, context: Any
    ) -> pb.MatchDescriptionResponse:
        require_role(*READERS)
        v = Violations()
        v.require(bool(request.description.strip()), "description", "required")
        v.require(len(request.description) <= 500, "description", "at most 500 characters")
        v.raise_if_any()
        m = self.uc.matcher.match(request.description)
        return pb.MatchDescriptionResponse(
            category=m.category or "",
            score=m.score,
            ambiguous=m.ambiguous,
            runner_up=m.runner_up or "",
            normalised=m.normalised,
        )
