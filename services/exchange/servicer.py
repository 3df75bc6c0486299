"""Protobuf ⇄ domain for the exchange service: field checks and status codes. No rules here."""

from __future__ import annotations

import re
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC
from typing import Any

import grpc

from elevins.exchange.v1 import exchange_pb2 as pb
from elevins.exchange.v1 import exchange_pb2_grpc
from services.exchange.domain.alarms import parse_pushed_body
from services.exchange.domain.files import CsvFile
from services.exchange.domain.formats import FEEDS
from services.exchange.domain.notifications import DEFAULT_TOPICS, PARTNER_KINDS, PARTNER_TOPICS
from services.exchange.domain.records import RecordKind, Rejection, record_kind
from services.exchange.domain.signing import PushRefused, verify
from services.exchange.store import DeliveryRow, ExchangeStore, ImportRow, PartnerRow
from services.exchange.usecases import Batch, ExchangeUseCases, ImportRunning, Receipt
from shared.auth import Role, require_role
from shared.domain_errors import InvalidInput
from shared.errors import ServiceError, Violations, bad_field, from_domain_error
from shared.timestamps import to_timestamp

MAX_RECORDS = 10_000
MAX_PAGE = 1000
IMPORTERS = (Role.PARTNER, Role.SERVICE)
READERS = (Role.PARTNER, Role.SERVICE, Role.SUPERVISOR, Role.AUDITOR)
OPERATORS = (Role.SERVICE, Role.SUPERVISOR)
SPOOL_IN_MEMORY = 8 * 1024 * 1024  # larger files go to a temporary file while they arrive
_REGION = re.compile(r"[1-8][0-9]{0,5}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
_ADDR = re.compile(r"[A-Za-z0-9.-]+:[0-9]{1,5}")


def map_error(exc: Exception) -> ServiceError | None:
    """A push that does not prove who signed it, or when, is UNAUTHENTICATED (the token alone
    is not enough for a signed push); everything else maps by its kind."""
    mapped = from_domain_error(exc)
    if mapped is not None and isinstance(exc, PushRefused):
        return ServiceError(
            grpc.StatusCode.UNAUTHENTICATED, exc.code, exc.message, mapped.violations
        )
    return mapped


def rejection_pb(r: Rejection) -> pb.Rejection:
    return pb.Rejection(
        row=r.row, record_id=r.record_id, field=r.field, reason=r.reason, code=r.code
    )


def report_pb(row: ImportRow, rejections: list[Rejection] | None = None) -> pb.ImportReport:
    report = pb.ImportReport(
        import_id=row.id,
        kind=row.kind,
        format=row.format,
        partner_id=row.partner_id,
        state=row.state,
        rows=row.rows,
        applied=row.applied,
        unchanged=row.unchanged,
        stale=row.stale,
        rejected=row.rejected,
        warnings=row.warnings,
        rejections=[rejection_pb(r) for r in rejections or []],
        rule_set_version=row.rule_set_version,
        started_at=to_timestamp(row.started_at),
        error=row.error,
        file_name=row.file_name,
        finished_at=to_timestamp(row.finished_at),
    )
    return report


def partner_pb(row: PartnerRow) -> pb.Partner:
    return pb.Partner(
        partner_id=row.partner_id,
        name=row.name,
        kind=row.kind,
        regions=list(row.regions),
        feeds=list(row.feeds),
        inbox_addr=row.inbox_addr,
        topics=list(row.topics),
        outbound_version=row.outbound_version,
    )


def delivery_pb(d: DeliveryRow) -> pb.Delivery:
    out = pb.Delivery(
        delivery_id=d.id,
        partner_id=d.partner_id,
        dedup_id=d.dedup_id,
        topic=d.topic,
        state=d.state,
        attempts=d.attempts,
        next_attempt_at=to_timestamp(d.next_attempt_at),
        last_error=d.last_error,
        created_at=to_timestamp(d.created_at),
        region_code=d.region_code,
        delivered_at=to_timestamp(d.delivered_at),
    )
    return out


def receipt_pb(r: Receipt) -> pb.AlarmReceipt:
    return pb.AlarmReceipt(
        alarm_id=r.alarm_id,
        state=r.state,
        claim_id=r.claim_id,
        claim_created=r.created,
        duplicate=r.duplicate,
        reason=r.reason,
    )


def _kind(text: str, v: Violations) -> RecordKind | None:
    try:
        return record_kind(text)
    except InvalidInput as problem:
        v.add("kind", problem.message)
        return None


def _page_token(text: str, v: Violations) -> int:
    if not text:
        return 0
    v.require(text.isdigit(), "page_token", "not a token from this call")
    return int(text) if text.isdigit() else 0


class ExchangeServicer(exchange_pb2_grpc.ExchangeServiceServicer):
    def __init__(self, usecases: ExchangeUseCases, *, batch_rows: int, max_file_bytes: int) -> None:
        self.uc = usecases
        self.batch_rows = batch_rows
        self.max_file_bytes = max_file_bytes

    # ------------------------------------------------------------ imports

    async def ImportRecords(
        self, request: pb.ImportRecordsRequest, context: Any
    ) -> pb.ImportRecordsResponse:
        require_role(*IMPORTERS)
        v = Violations()
        v.require(bool(request.request_id.strip()), "request_id", "required")
        kind = _kind(request.kind, v)
        v.require(0 < len(request.records) <= MAX_RECORDS, "records", f"1 to {MAX_RECORDS} records")
        v.raise_if_any()
        assert kind is not None
        fmt = self.uc.find_format(request.format, kind.name)
        id_col = next((k for k, f in fmt.columns.items() if f == "record_id"), "record_id")
        version_col = next((k for k, f in fmt.columns.items() if f == "version"), "version")
        names = sorted({n for r in request.records for n in r.fields} - {id_col, version_col})
        header = [id_col, version_col, *names]
        to_ours = self.uc.mapped(fmt, kind, header)
        columns: list[list[str]] = [
            [r.record_id for r in request.records],
            [str(r.version) if r.version else "" for r in request.records],
            *([r.fields.get(n, "") for r in request.records] for n in names),
        ]
        batch = to_ours(list(range(1, len(request.records) + 1)), columns)
        report = await self._run(request.request_id, kind, fmt, "", iter([batch]))
        return pb.ImportRecordsResponse(report=report)

    async def _run(
        self, request_id: str, kind: RecordKind, fmt: Any, file_name: str, batches: Iterator[Batch]
    ) -> pb.ImportReport:
        final = None
        async for report in self._progress(request_id, kind, fmt, file_name, batches):
            final = report
        assert final is not None
        return final

    async def _progress(
        self, request_id: str, kind: RecordKind, fmt: Any, file_name: str, batches: Iterator[Batch]
    ) -> AsyncIterator[pb.ImportReport]:
        row, before = await self.uc.begin_import(
            kind=kind, fmt=fmt, request_id=request_id, file_name=file_name
        )
        if before:  # the same request again: its report, not a second import
            if row.state == "running":
                raise ImportRunning(f"import {row.id} of this request is still running")
            known, first = await self.uc.read(lambda s: self.uc.report(s, row.id))
            yield report_pb(known, first)
            return
        async for progress in self.uc.run_import(row, kind, fmt, batches):
            if progress.state == "running":
                yield report_pb(progress)
            else:
                done, first = await self.uc.read(lambda s: self.uc.report(s, row.id))
                yield report_pb(done, first)

    async def ImportFile(
        self, request_iterator: AsyncIterator[pb.ImportFileRequest], context: Any
    ) -> AsyncIterator[pb.ImportFileResponse]:
        require_role(*IMPORTERS)
        first = await anext(aiter(request_iterator), None)
        if first is None or not first.HasField("header"):
            raise bad_field("header", "the first message must be the header")
        header = first.header
        v = Violations()
        v.require(bool(header.request_id.strip()), "header.request_id", "required")
        kind = _kind(header.kind, v)
        v.require(len(header.file_name) <= 200, "header.file_name", "at most 200 characters")
        v.raise_if_any()
        assert kind is not None
        fmt = self.uc.find_format(header.format, kind.name)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY) as spool:
            size = 0
            async for message in request_iterator:
                if message.HasField("header"):
                    raise bad_field("header", "sent twice")
                size += len(message.chunk)
                if size > self.max_file_bytes:
                    raise bad_field("chunk", f"the file is larger than {self.max_file_bytes} bytes")
                spool.write(message.chunk)
            spool.seek(0)
            csv_file = CsvFile(spool)  # type: ignore[arg-type]  # a binary file object
            to_ours = self.uc.mapped(fmt, kind, csv_file.header)
            batches = (to_ours(b.rows, b.columns) for b in csv_file.batches(self.batch_rows))
            async for report in self._progress(
                header.request_id, kind, fmt, header.file_name, batches
            ):
                yield pb.ImportFileResponse(report=report, final=report.state != "running")

    async def GetImport(self, request: pb.GetImportRequest, context: Any) -> pb.GetImportResponse:
        require_role(*READERS)
        row, first = await self.uc.read(lambda s: self.uc.report(s, request.import_id))
        return pb.GetImportResponse(report=report_pb(row, first))

    async def ListRejections(
        self, request: pb.ListRejectionsRequest, context: Any
    ) -> pb.ListRejectionsResponse:
        require_role(*READERS)
        v = Violations()
        v.require(0 <= request.page_size <= MAX_PAGE, "page_size", f"0 to {MAX_PAGE}")
        after = _page_token(request.page_token, v)
        v.raise_if_any()
        limit = request.page_size or 100

        async def work(store: ExchangeStore) -> pb.ListRejectionsResponse:
            found = await self.uc.rejections(
                store, request.import_id, after_row=after, limit=limit + 1
            )
            # A page ends on a row boundary, so one row's rejections are never split.
            page = found[:limit]
            if len(found) > limit:
                last = page[-1].row
                page = [r for r in found if r.row <= last] if found[limit].row == last else page
            more = len(found) > len(page)
            return pb.ListRejectionsResponse(
                rejections=[rejection_pb(r) for r in page],
                next_page_token=str(page[-1].row) if more and page else "",
            )

        return await self.uc.read(work)

    async def ListFormats(
        self, request: pb.ListFormatsRequest, context: Any
    ) -> pb.ListFormatsResponse:
        principal = require_role(*READERS)
        return pb.ListFormatsResponse(
            formats=[
                pb.Format(
                    format_id=f.format_id,
                    partner_id=f.partner,
                    kind=f.kind,
                    version=f.version,
                    columns=dict(f.columns),
                    date_style=f.date_style.value,
                )
                for f in self.uc.formats.formats.values()
                if (not request.kind or f.kind == request.kind)
                and (principal.role is not Role.PARTNER or f.partner == principal.subject)
            ]
        )

    # ------------------------------------------------------------ alarms

    async def PushAlarm(self, request: pb.PushAlarmRequest, context: Any) -> pb.PushAlarmResponse:
        principal = require_role(Role.PARTNER, Role.SERVICE)
        v = Violations()
        v.require(bool(request.signature), "signature", "required: hex HMAC-SHA256")
        v.require(request.timestamp > 0, "timestamp", "required: unix seconds when signed")
        v.require(0 < len(request.body) <= 64 * 1024, "body", "1 byte to 64 KiB of JSON")
        v.raise_if_any()
        push = verify(
            self.uc.push_secret(principal.subject),
            timestamp=request.timestamp,
            message=request.body,
            signature=request.signature,
            now=time.time(),
            window_s=self.uc.push_window_s,
        )
        fields = parse_pushed_body(request.body)
        receipt = await self.uc.receive_alarm(fields, request.format, push=push)
        return pb.PushAlarmResponse(receipt=receipt_pb(receipt))

    async def StreamAlarms(
        self, request_iterator: AsyncIterator[pb.StreamAlarmsRequest], context: Any
    ) -> AsyncIterator[pb.StreamAlarmsResponse]:
        require_role(Role.PARTNER, Role.SERVICE)
        async for request in request_iterator:
            a = request.alarm
            fields: dict[str, object] = {
                "alarm_id": a.alarm_id,
                "registration_code": a.registration_code,
                "fault_code": a.fault_code,
                "description": a.description,
            }
            if a.HasField("occurred_at"):
                fields["occurred_at"] = a.occurred_at.ToDatetime(tzinfo=UTC)
            try:
                receipt = await self.uc.receive_alarm(fields, request.format, our_names=True)
            except InvalidInput as problem:
                # One bad alarm is answered in the stream, which goes on: a platform pushing
                # thousands must not lose its connection over one.
                text = "; ".join(
                    f"{p.field}: {p.message}" for p in getattr(problem, "problems", (problem,))
                )
                receipt = Receipt(a.alarm_id, "rejected", "", False, False, text)
            yield pb.StreamAlarmsResponse(receipt=receipt_pb(receipt))

    # ------------------------------------------------------------ partners and outbound

    async def RegisterPartner(
        self, request: pb.RegisterPartnerRequest, context: Any
    ) -> pb.RegisterPartnerResponse:
        require_role(*OPERATORS)
        p = request.partner
        v = Violations()
        v.require(
            bool(_ID.fullmatch(p.partner_id)),
            "partner.partner_id",
            "1 to 64 letters, digits or . _ : -",
        )
        v.require(0 < len(p.name.strip()) <= 200, "partner.name", "1 to 200 characters")
        v.require(p.kind in PARTNER_KINDS, "partner.kind", f"one of {', '.join(PARTNER_KINDS)}")
        v.require(len(p.regions) > 0, "partner.regions", "at least one region prefix")
        for i, region in enumerate(p.regions):
            v.require(
                bool(_REGION.fullmatch(region)),
                f"partner.regions[{i}]",
                "a GB/T 2260 code or prefix",
            )
        for i, feed in enumerate(p.feeds):
            v.require(feed in FEEDS, f"partner.feeds[{i}]", f"one of {', '.join(FEEDS)}")
        for i, topic in enumerate(p.topics):
            v.require(
                topic in PARTNER_TOPICS,
                f"partner.topics[{i}]",
                f"one of {', '.join(PARTNER_TOPICS)}",
            )
        v.require(
            not p.inbox_addr or bool(_ADDR.fullmatch(p.inbox_addr)),
            "partner.inbox_addr",
            "host:port",
        )
        v.require(p.outbound_version >= 0, "partner.outbound_version", "must not be negative")
        v.raise_if_any()
        row = PartnerRow(
            partner_id=p.partner_id,
            name=p.name.strip(),
            kind=p.kind,
            regions=tuple(p.regions),
            feeds=tuple(p.feeds),
            inbox_addr=p.inbox_addr,
            topics=tuple(p.topics) if p.topics else DEFAULT_TOPICS[p.kind],
            outbound_version=p.outbound_version or 1,
        )

        async def work(store: ExchangeStore) -> pb.RegisterPartnerResponse:
            return pb.RegisterPartnerResponse(
                partner=partner_pb(await self.uc.register_partner(store, row))
            )

        return await self.uc.write("RegisterPartner", request, pb.RegisterPartnerResponse, work)

    async def GetPartner(
        self, request: pb.GetPartnerRequest, context: Any
    ) -> pb.GetPartnerResponse:
        require_role(*READERS)
        row = await self.uc.read(lambda s: self.uc.partner(s, request.partner_id))
        return pb.GetPartnerResponse(partner=partner_pb(row))

    async def ListDeliveries(
        self, request: pb.ListDeliveriesRequest, context: Any
    ) -> pb.ListDeliveriesResponse:
        require_role(*READERS)
        v = Violations()
        v.require(
            request.state in ("", "pending", "delivered", "dead"),
            "state",
            "pending, delivered or dead",
        )
        v.require(0 <= request.page_size <= MAX_PAGE, "page_size", f"0 to {MAX_PAGE}")
        after = _page_token(request.page_token, v)
        v.raise_if_any()
        limit = request.page_size or 100

        async def work(store: ExchangeStore) -> pb.ListDeliveriesResponse:
            rows = await self.uc.deliveries(
                store,
                state=request.state,
                partner_id=request.partner_id,
                after_id=after,
                limit=limit + 1,
            )
            page = rows[:limit]
            return pb.ListDeliveriesResponse(
                deliveries=[delivery_pb(d) for d in page],
                next_page_token=str(page[-1].id) if len(rows) > limit else "",
            )

        return await self.uc.read(work)

    async def ReplayDeliveries(
        self, request: pb.ReplayDeliveriesRequest, context: Any
    ) -> pb.ReplayDeliveriesResponse:
        require_role(*OPERATORS)
        v = Violations()
        v.require(0 < len(request.delivery_ids) <= MAX_PAGE, "delivery_ids", f"1 to {MAX_PAGE} ids")
        v.raise_if_any()

        async def work(store: ExchangeStore) -> pb.ReplayDeliveriesResponse:
            return pb.ReplayDeliveriesResponse(
                replayed=await self.uc.replay(store, list(request.delivery_ids))
            )

        return await self.uc.write("ReplayDeliveries", request, pb.ReplayDeliveriesResponse, work)
