"""The exchange service's operations: authorisation, transactions and calls to other services.

Who may do what: a partner (role ``partner``, the token's subject is its partner id) sends only
the feeds it is registered for, only records in its token's regions, and reads only its own
imports; the operator (role ``service``) may do anything; supervisors and auditors read
imports and deliveries in their regions and replay dead letters.

An import is a sequence of batches, each validated (one columnar call to the validation
service, outside any transaction), then applied and counted in one transaction of its own:
progress is visible while the import runs, a killed import keeps what it applied, and a retry
applies the rest (records are idempotent by record id and version).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from elevins.exchange.v1 import exchange_pb2 as xpb
from services.exchange.clients import (
    ClaimRefused,
    ClaimsClient,
    PartnerInboxes,
    PolicyClient,
    UpstreamUnavailable,
    ValidationClient,
)
from services.exchange.domain.alarms import parse_alarm
from services.exchange.domain.formats import (
    Format,
    FormatBook,
    canonical,
    map_header,
    map_values,
)
from services.exchange.domain.notifications import (
    RetryPolicy,
    SourceEvent,
    Subscriber,
    route,
)
from services.exchange.domain.records import (
    KEY_FIELDS,
    IntArray,
    ParsedBatch,
    RecordKind,
    Rejection,
    parse_batch,
)
from services.exchange.domain.signing import PushReplayed, VerifiedPush, partner_secret, sign
from services.exchange.store import (
    AlarmRow,
    DeliveryRow,
    ExchangeStore,
    ImportRow,
    PartnerRow,
    Progress,
    Staged,
    stage_batch,
)
from shared.auth import Principal, Role, current_principal
from shared.clock import Clock, shanghai_date
from shared.domain_errors import NotFound, PermissionDenied, PreconditionFailed
from shared.timestamps import to_timestamp
from shared.unit_of_work import Transactions

log = logging.getLogger("elevins.exchange")

OPERATOR = Role.SERVICE
READERS = (Role.SERVICE, Role.SUPERVISOR, Role.AUDITOR)
LEASE = timedelta(seconds=30)  # a delivery in flight; longer than any call's timeout
FIRST_REJECTIONS = 1000
RELAY_PAGE = 200


class FeedForbidden(PermissionDenied):
    code = "FEED_FORBIDDEN"


class RegionForbidden(PermissionDenied):
    code = "REGION_FORBIDDEN"


class ImportUnknown(NotFound):
    code = "IMPORT_NOT_FOUND"


class ImportRunning(PreconditionFailed):
    code = "IMPORT_RUNNING"


@dataclass(frozen=True)
class Prepared:
    """A batch parsed, validated and encoded, ready to be written: the rows to apply (staged),
    the rejections so far (by row), the spreadsheet rows applied with warnings."""

    staged: Staged
    rows: int
    rejections: list[Rejection]
    repeats: int
    flagged: frozenset[int]
    version: str


def _rejection_order(r: Rejection) -> tuple[int, str, str]:
    return (r.row, r.field, r.code)


@dataclass(frozen=True)
class Receipt:
    alarm_id: str
    state: str
    claim_id: str
    created: bool
    duplicate: bool
    reason: str


Batch = tuple[Sequence[int] | IntArray, Mapping[str, Sequence[str]]]


def _partner_id() -> str:
    return current_principal().subject


class ExchangeUseCases(Transactions[ExchangeStore]):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        formats: FormatBook,
        validation: ValidationClient,
        claims: ClaimsClient,
        policy: PolicyClient,
        inboxes: PartnerInboxes,
        push_key: bytes,
        mint: Callable[[str, Sequence[str]], str],
        retry: RetryPolicy,
        push_window_s: int,
    ) -> None:
        super().__init__(engine, ExchangeStore)
        self.clock = clock
        self.formats = formats
        self.validation = validation
        self.claims = claims
        self.policy = policy
        self.inboxes = inboxes
        self._push_key = push_key
        self._mint = mint  # (subject, regions) → a short-lived partner token for claims
        self.retry = retry
        self.push_window_s = push_window_s

    def push_secret(self, partner_id: str) -> bytes:
        return partner_secret(self._push_key, partner_id)

    # ------------------------------------------------------------ partners

    async def register_partner(self, store: ExchangeStore, row: PartnerRow) -> PartnerRow:
        principal = current_principal()
        outside = [r for r in row.regions if not principal.may_access_region(r)]
        if outside:
            raise RegionForbidden(f"no access to region(s) {', '.join(outside)}", field="regions")
        await store.add_partner(row, registered_by=principal.subject)
        return row

    async def partner(self, store: ExchangeStore, partner_id: str) -> PartnerRow:
        principal = current_principal()
        row = await store.partner(partner_id)
        visible = row is not None and (
            principal.subject == row.partner_id
            or (
                principal.role in READERS
                and any(principal.may_access_region(r) for r in row.regions)
            )
        )
        if row is None or not visible:
            raise NotFound(f"no partner {partner_id!r} that you may see", field="partner_id")
        return row

    async def _require_feed(self, store: ExchangeStore, feed: str) -> Principal:
        principal = current_principal()
        if principal.role is OPERATOR:
            return principal
        row = await store.partner(principal.subject)
        if row is None or feed not in row.feeds:
            raise FeedForbidden(
                f"{principal.subject} is not registered to send {feed} records", field="kind"
            )
        return principal

    # ------------------------------------------------------------ imports

    def find_format(self, format_id: str, kind: str) -> Format:
        principal = current_principal()
        return self.formats.find(
            format_id, kind, principal.subject, operator=principal.role is OPERATOR
        )

    async def begin_import(
        self, *, kind: RecordKind, fmt: Format, request_id: str, file_name: str
    ) -> tuple[ImportRow, bool]:
        """(the import, True if this request started it before): a retried request id does
        not import the file twice; its report is answered instead."""
        principal = current_principal()

        async def work(store: ExchangeStore) -> tuple[ImportRow, bool]:
            await self._require_feed(store, kind.name)
            row = ImportRow(
                id=f"imp_{uuid.uuid4().hex}",
                partner_id=principal.subject,
                request_id=request_id,
                kind=kind.name,
                format=fmt.format_id,
                file_name=file_name[:200],
                regions=tuple(sorted(principal.regions)),
                state="running",
                rows=0,
                applied=0,
                unchanged=0,
                stale=0,
                rejected=0,
                warnings=0,
                rule_set_version="",
                error="",
                started_at=self.clock.now(),
                finished_at=None,
            )
            if await store.start_import(row):
                return row, False
            known = await store.import_by_request(principal.subject, request_id)
            assert known is not None
            if known.kind != kind.name or known.format != fmt.format_id:
                raise PreconditionFailed(
                    f"request_id {request_id!r} started a {known.kind} import already",
                    field="request_id",
                )
            return known, True

        return await self.transaction(work)

    def mapped(
        self, fmt: Format, kind: RecordKind, header: Sequence[str]
    ) -> Callable[[Sequence[int] | IntArray, Sequence[Sequence[str]]], Batch]:
        """Header → a function that turns a batch's positional columns into ours."""
        fields = map_header(
            fmt, header, required=(*KEY_FIELDS, *(f.name for f in kind.fields if f.required))
        )

        def to_ours(rows: Sequence[int] | IntArray, columns: Sequence[Sequence[str]]) -> Batch:
            ours = {
                field: map_values(fmt, field, values)
                for field, values in zip(fields, columns, strict=True)
                if field is not None
            }
            return rows, ours

        return to_ours

    async def run_import(
        self, row: ImportRow, kind: RecordKind, fmt: Format, batches: Iterator[Batch]
    ) -> AsyncIterator[ImportRow]:
        """Applies every batch, yielding the import's progress after each; marks it done (or
        failed, with the error, if a batch could not be applied).

        Two stages overlap: while batch N is written (PostgreSQL's work, in its own
        transaction), batch N+1 is read, parsed (in a worker thread, so this loop keeps
        serving) and validated (the validation service's work). Batches are still applied
        one after the other, in file order, each whole or not at all.
        """
        applying: asyncio.Task[ImportRow] | None = None
        try:
            while True:
                ready = await self._prepare(kind, fmt, batches)
                progress = None
                if applying is not None:
                    progress, applying = await applying, None
                if ready is not None:
                    applying = asyncio.create_task(self._apply(row, ready))
                if progress is not None:
                    yield progress
                if ready is None:
                    break
        except BaseException as error:
            if applying is not None:
                # The batch before is being written in a transaction of its own: let it end
                # (committed whole or not at all) before the import is marked failed.
                await asyncio.wait([applying])
                if not applying.cancelled():
                    applying.exception()  # retrieved: the error being raised is the one to tell
            reason = getattr(error, "message", None) or type(error).__name__
            await self.transaction(
                lambda s: s.finish_import(row.id, at=self.clock.now(), error=str(reason))
            )
            raise
        await self.transaction(lambda s: s.finish_import(row.id, at=self.clock.now()))
        yield await self.read(lambda s: self._import(s, row.id))

    async def _prepare(
        self, kind: RecordKind, fmt: Format, batches: Iterator[Batch]
    ) -> Prepared | None:
        """The next batch read, parsed, validated and encoded for COPY (None after the last);
        no transaction. The CPU-bound steps run in a worker thread: this loop stays free to
        drive the batch being written, whose statements would otherwise wait for each step."""
        principal = current_principal()

        def parse_next() -> ParsedBatch | None:
            found = next(batches, None)
            if found is None:
                return None
            rows, columns = found
            return parse_batch(
                kind, rows, columns, allowed_regions=principal.regions, date_style=fmt.date_style
            )

        batch = await asyncio.to_thread(parse_next)
        if batch is None:
            return None
        good = batch.good()
        version = ""
        warnings: dict[int, list[str]] = {}
        if good.size:
            info = await self.validation.rule_set(kind.rule_set)
            on = shanghai_date(self.clock.now()).isoformat()
            version, failures = await self.validation.validate(
                kind.rule_set, batch.columns, good, on=on
            )
            for position, codes in failures.items():
                index = int(good[position])
                for code in codes:
                    rule = info.rules.get(code)
                    if rule is not None and rule.severity == "warning":
                        warnings.setdefault(index, []).append(code)
                    else:
                        field = ",".join(rule.fields) if rule and rule.fields else "record"
                        reason = rule.description if rule else code
                        batch.reject(index, field, code, reason)

        def encode() -> Prepared:
            kept = batch.good()
            flags = [",".join(warnings[i]) if i in warnings else None for i in kept.tolist()]
            return Prepared(
                staged=stage_batch(batch, kept, flags),
                rows=len(batch),
                rejections=sorted(batch.rejections, key=_rejection_order),
                repeats=batch.repeats,
                flagged=frozenset(int(batch.rows[i]) for i in warnings if not batch.bad[i]),
                version=version,
            )

        return await asyncio.to_thread(encode)

    async def _apply(self, row: ImportRow, ready: Prepared) -> ImportRow:
        """Writes one prepared batch with its rejections and counters; the import as it
        stands after this batch, read in the same transaction."""

        async def work(store: ExchangeStore) -> ImportRow:
            applied = await store.apply_batch(
                ready.staged, partner_id=row.partner_id, import_id=row.id
            )
            found = ready.rejections
            if applied.conflicts:
                found = sorted([*found, *applied.conflicts], key=_rejection_order)
            await store.add_rejections(row.id, found)
            conflicted = {r.row for r in applied.conflicts}
            await store.add_progress(
                row.id,
                Progress(
                    rows=ready.rows,
                    applied=applied.applied,
                    unchanged=ready.staged.count
                    - applied.applied
                    - applied.stale
                    - len(applied.conflicts)
                    + ready.repeats,
                    stale=applied.stale,
                    rejected=len({r.row for r in found}),
                    warnings=len(ready.flagged - conflicted),
                ),
                ready.version,
            )
            return await self._import(store, row.id)

        return await self.transaction(work)

    async def _import(self, store: ExchangeStore, import_id: str) -> ImportRow:
        row = await store.import_row(import_id)
        principal = current_principal()
        visible = row is not None and (
            principal.subject == row.partner_id
            or (
                principal.role in READERS
                and any(principal.may_access_region(r) or r == "*" for r in row.regions)
            )
        )
        if row is None or not visible:
            raise ImportUnknown(f"no import {import_id!r} that you may see", field="import_id")
        return row

    async def report(
        self, store: ExchangeStore, import_id: str
    ) -> tuple[ImportRow, list[Rejection]]:
        row = await self._import(store, import_id)
        return row, await store.first_rejections(import_id, FIRST_REJECTIONS)

    async def rejections(
        self, store: ExchangeStore, import_id: str, *, after_row: int, limit: int
    ) -> list[Rejection]:
        await self._import(store, import_id)
        return await store.rejections_of(import_id, after_row=after_row, limit=limit)

    # ------------------------------------------------------------ alarms

    async def receive_alarm(
        self,
        fields: Mapping[str, object],
        format_id: str,
        *,
        push: VerifiedPush | None = None,
        our_names: bool = False,
    ) -> Receipt:
        """Records the alarm (once per partner and alarm id) and forwards it to claims at once;
        if claims does not answer, it stays queued and the relay retries it. ``our_names``:
        the fields are named as ours (a typed stream), only the format's codes apply."""
        principal = current_principal()
        fmt = self.find_format(format_id, "alarm")
        if our_names:
            fmt = replace(canonical("alarm"), values=fmt.values)
        now = self.clock.now()
        alarm = parse_alarm(fields, fmt, now=now)

        async def record(store: ExchangeStore) -> bool:
            await self._require_feed(store, "alarm")
            if push is not None:
                signed_at = datetime.fromtimestamp(push.timestamp, tz=now.tzinfo)
                await store.prune_push_receipts(now - timedelta(seconds=2 * self.push_window_s))
                if not await store.add_push_receipt(principal.subject, push.digest, signed_at):
                    raise PushReplayed("this signed push was received before", field="signature")
            return await store.add_alarm(
                AlarmRow(
                    partner_id=principal.subject,
                    alarm_id=alarm.alarm_id,
                    registration_code=alarm.registration_code,
                    fault_category=alarm.fault_category,
                    occurred_at=alarm.occurred_at,
                    description=alarm.description,
                    regions=tuple(sorted(principal.regions)),
                    state="queued",
                    claim_id=None,
                    reason="",
                    attempts=0,
                ),
                next_attempt_at=now,
            )

        new = await self.transaction(record)
        if new:
            await self.forward_alarm(principal.subject, alarm.alarm_id)
        stored = await self.read(lambda s: s.alarm(principal.subject, alarm.alarm_id))
        return Receipt(
            alarm_id=stored.alarm_id,
            state=stored.state,
            claim_id=stored.claim_id or "",
            created=new and stored.state == "forwarded" and stored.reason == "created",
            duplicate=not new,
            reason="" if stored.reason in ("created", "folded") else stored.reason,
        )

    async def forward_alarm(self, partner_id: str, alarm_id: str) -> None:
        async def work(store: ExchangeStore) -> None:
            alarm = await store.alarm(partner_id, alarm_id, for_update=True)
            if alarm.state != "queued":
                return
            await self._forward(store, alarm)

        await self.transaction(work)

    async def _forward(self, store: ExchangeStore, alarm: AlarmRow) -> None:
        # As the partner, with its regions: claims refuses an elevator outside them.
        token = self._mint(f"exchange/{alarm.partner_id}", alarm.regions)
        now = self.clock.now()
        try:
            intake = await self.claims.report_loss(
                token=token,
                source_event_id=f"{alarm.partner_id}:{alarm.alarm_id}",
                registration_code=alarm.registration_code,
                fault_category=alarm.fault_category,
                occurred_at=alarm.occurred_at,
                description=alarm.description,
            )
        except UpstreamUnavailable as error:
            delay = self.retry.delay(alarm.attempts + 1)
            await store.settle_alarm(
                alarm.partner_id,
                alarm.alarm_id,
                state="queued",
                claim_id=None,
                reason=str(error),
                next_attempt_at=now + delay,
            )
            return
        except ClaimRefused as refused:
            await store.settle_alarm(
                alarm.partner_id,
                alarm.alarm_id,
                state="rejected",
                claim_id=None,
                reason=f"{refused.reason}: {refused}",
                next_attempt_at=None,
            )
            return
        await store.settle_alarm(
            alarm.partner_id,
            alarm.alarm_id,
            state="forwarded",
            claim_id=intake.claim_id,
            reason="created" if intake.created else "folded",
            next_attempt_at=None,
        )

    async def retry_alarms(self, limit: int = 50) -> int:
        async def work(store: ExchangeStore) -> int:
            due = await store.queued_alarms(self.clock.now(), limit)
            for alarm in due:
                await self._forward(store, alarm)
            return len(due)

        return await self.transaction(work)

    # ------------------------------------------------------------ outbound

    async def relay_once(self, source: str) -> int:
        """One page of a source's outbox → deliveries, and the cursor moved, in one
        transaction: a crash before the commit re-reads the page, and the unique
        (partner, dedup id) makes the second reading add nothing."""
        client = self.claims if source == "claims" else self.policy

        async def work(store: ExchangeStore) -> int:
            cursor = await store.cursor(source)  # locked: one relay per source at a time
            events, next_cursor = await client.events(cursor, RELAY_PAGE)
            subscribers = [
                Subscriber(p.partner_id, p.regions, p.topics, p.outbound_version)
                for p in await store.subscribers()
            ]
            rows = []
            for event in events:
                region = await self._region_of(store, event)
                for n in route(event, region, subscribers, self.formats.outbound):
                    rows.append(
                        {
                            "partner_id": n.partner_id,
                            "dedup_id": n.dedup_id,
                            "topic": n.topic,
                            "region_code": n.region_code,
                            "payload": dict(n.payload),
                            "occurred_at": n.occurred_at,
                            "next_attempt_at": self.clock.now(),
                        }
                    )
            await store.add_deliveries(rows)
            if next_cursor != cursor:
                await store.set_cursor(source, next_cursor)
            return len(events)

        return await self.transaction(work)

    async def _region_of(self, store: ExchangeStore, event: SourceEvent) -> str:
        region = str(event.payload.get("region_code") or "")
        claim_id = str(event.payload.get("claim_id") or "")
        if event.source != "claims" or not claim_id:
            return region
        if region:
            await store.remember_claim_region(claim_id, region)
            return region
        known = await store.claim_region(claim_id)
        if known is None:  # opened before this relay's time: ask once, remember
            known = await self.claims.claim_region(claim_id)
            await store.remember_claim_region(claim_id, known)
        return known

    async def deliver_due(self, limit: int = 50) -> int:
        """Sends what is due, concurrently; each outcome is recorded on its own."""
        now = self.clock.now()

        async def lease(store: ExchangeStore) -> tuple[list[DeliveryRow], dict[str, str]]:
            due = await store.lease_due(now, now + LEASE, limit)
            inboxes = {p.partner_id: p.inbox_addr for p in await store.subscribers()}
            return due, inboxes

        due, inboxes = await self.transaction(lease)
        await asyncio.gather(*(self._send(d, inboxes.get(d.partner_id, "")) for d in due))
        return len(due)

    async def _send(self, d: DeliveryRow, addr: str) -> None:
        import json

        payload = json.dumps(d.payload, ensure_ascii=False, sort_keys=True)
        timestamp = int(self.clock.now().timestamp())
        signature = sign(
            self.push_secret(d.partner_id), timestamp, f"{d.dedup_id}.{payload}".encode()
        )
        request = xpb.DeliverRequest(
            dedup_id=d.dedup_id,
            topic=d.topic,
            format_version=1,
            payload_json=payload,
            occurred_at=to_timestamp(d.occurred_at),
        )
        try:
            if not addr:
                raise UpstreamUnavailable("the partner has no inbox address any more")
            await self.inboxes.deliver(addr, request, timestamp=timestamp, signature=signature)
        except UpstreamUnavailable as error:
            attempts = d.attempts + 1
            dead = self.retry.gives_up(attempts)
            message = str(error)
            await self.transaction(
                lambda s: s.mark_failed(
                    d.id,
                    error=message,
                    next_attempt_at=self.clock.now() + self.retry.delay(attempts),
                    dead=dead,
                )
            )
            if dead:
                log.warning(
                    "delivery %s to %s is dead after %d attempts", d.id, d.partner_id, attempts
                )
            return
        await self.transaction(lambda s: s.mark_delivered(d.id, self.clock.now()))

    async def deliveries(
        self, store: ExchangeStore, *, state: str, partner_id: str, after_id: int, limit: int
    ) -> list[DeliveryRow]:
        principal = current_principal()
        if principal.role is Role.PARTNER:
            partner_id = principal.subject  # a partner sees only its own
        return await store.deliveries_page(
            state=state,
            partner_id=partner_id,
            regions=sorted(principal.regions),
            after_id=after_id,
            limit=limit,
        )

    async def replay(self, store: ExchangeStore, ids: Sequence[int]) -> int:
        principal = current_principal()
        regions = await store.delivery_regions(ids)
        missing = [i for i in ids if i not in regions]
        if missing:
            raise NotFound(f"no deliveries {missing[:10]}", field="delivery_ids")
        outside = [i for i, r in regions.items() if not principal.may_access_region(r)]
        if outside:
            raise RegionForbidden(f"deliveries {outside[:10]} are outside your regions")
        return await store.replay(ids, self.clock.now())
