"""Typed clients of what the exchange calls: validation (row checks in columnar batches),
claims (first notice of loss, the outbox, a claim's region), policy (the outbox) and the
partners' inboxes. Each call has a bounded timeout; an upstream that does not answer is
:class:`UpstreamUnavailable`, which the caller retries later.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import numpy as np

from elevins.claims.v1 import claims_pb2 as cpb
from elevins.claims.v1 import claims_pb2_grpc
from elevins.exchange.v1 import exchange_pb2 as xpb
from elevins.exchange.v1 import exchange_pb2_grpc
from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from elevins.validation.v1 import validation_pb2 as vpb
from elevins.validation.v1 import validation_pb2_grpc
from services.exchange.domain.notifications import SourceEvent
from services.exchange.domain.records import Column, FieldType
from shared.errors import details_of
from shared.timestamps import to_timestamp

CALL_TIMEOUT_S = 5.0
VALIDATE_TIMEOUT_S = 60.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
]
_PACKED = {
    FieldType.INT: "ints",
    FieldType.FLOAT: "floats",
    FieldType.BOOL: "bools",
    FieldType.STR: "strings",
    FieldType.DATE: "dates",
}
_TRANSIENT = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
# A partner that was down for long leaves gRPC's own reconnect backoff at up to two minutes, in
# which every call fails at once: cap it at a second, so that our retry schedule (and an
# operator's replay) is what decides when a partner is tried again.
INBOX_OPTIONS = [
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
]


class UpstreamUnavailable(Exception):
    """Another service or a partner did not answer in time: retried later."""


def _md(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@dataclass(frozen=True)
class RuleInfo:
    severity: str
    description: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class RuleSetInfo:
    version: str
    fields: frozenset[str]
    rules: Mapping[str, RuleInfo]


class ValidationClient:
    """The validation service's rule sets over ``ValidateBatches``: one columnar batch per
    import batch (per-row calls cannot reach 50,000 rows/s; docs/adr/0007)."""

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = validation_pb2_grpc.ValidationServiceStub(channel)
        self._md = _md(token)
        self._rule_sets: dict[str, RuleSetInfo] = {}

    async def rule_set(self, name: str) -> RuleSetInfo:
        if name not in self._rule_sets:
            try:
                rs = (
                    await self._stub.GetRuleSet(
                        vpb.GetRuleSetRequest(name=name), metadata=self._md, timeout=CALL_TIMEOUT_S
                    )
                ).rule_set
            except grpc.aio.AioRpcError as error:
                raise _unavailable("validation", error) from error
            fields = frozenset(rs.fields)
            self._rule_sets[name] = RuleSetInfo(
                rs.version,
                fields,
                {
                    r.code: RuleInfo(
                        r.severity,
                        r.description,
                        tuple(
                            n for n in re.findall(r"[a-z_][a-z0-9_]*", r.expression) if n in fields
                        ),
                    )
                    for r in rs.rules
                },
            )
        return self._rule_sets[name]

    async def validate(
        self, name: str, columns: Mapping[str, Column], rows: np.ndarray, *, on: str
    ) -> tuple[str, dict[int, list[str]]]:
        """(rule-set version, position in ``rows`` → failed codes) for the rows picked."""
        info = await self.rule_set(name)
        packed = []
        for field, column in columns.items():
            if field not in info.fields:
                continue
            nulls = column.nulls[rows]
            out = vpb.Column(name=field, nulls=np.flatnonzero(nulls).tolist())
            if isinstance(column.values, list):
                values = list(map(column.values.__getitem__, rows.tolist()))
                for at in np.flatnonzero(nulls).tolist():
                    values[at] = ""  # a null is sent as its index; the value is a placeholder
            else:
                values = column.values[rows].tolist()
            getattr(out, _PACKED[column.type]).extend(values)
            packed.append(out)

        async def one() -> AsyncIterator[vpb.ValidateBatchesRequest]:
            yield vpb.ValidateBatchesRequest(batch_id="b", rule_set=name, on=on, columns=packed)

        try:
            replies = [
                r
                async for r in self._stub.ValidateBatches(
                    one(), metadata=self._md, timeout=VALIDATE_TIMEOUT_S
                )
            ]
        except grpc.aio.AioRpcError as error:
            raise _unavailable("validation", error) from error
        (reply,) = replies
        if reply.HasField("error"):
            raise RuntimeError(
                f"validation refused a batch: {reply.error.field}: {reply.error.reason}"
            )
        return reply.rule_set_version, {f.row: list(f.codes) for f in reply.failures}

    async def validate_one(self, name: str, values: Mapping[str, object], *, on: str) -> list[str]:
        """One record with ``Validate`` (the benchmark's row-by-row baseline)."""
        fields = {}
        for k, v in values.items():
            if v is None:
                continue
            if isinstance(v, bool):
                fields[k] = vpb.Value(bool_value=v)
            elif isinstance(v, int):
                fields[k] = vpb.Value(int_value=v)
            elif isinstance(v, float):
                fields[k] = vpb.Value(float_value=v)
            elif hasattr(v, "isoformat"):
                fields[k] = vpb.Value(date_value=v.isoformat())
            else:
                fields[k] = vpb.Value(string_value=str(v))
        reply = await self._stub.Validate(
            vpb.ValidateRequest(rule_set=name, on=on, fields=fields),
            metadata=self._md,
            timeout=CALL_TIMEOUT_S,
        )
        return list(reply.failed)


def _unavailable(what: str, error: grpc.aio.AioRpcError) -> Exception:
    if error.code() in _TRANSIENT:
        return UpstreamUnavailable(f"{what}: {error.code().name}")
    return error


@dataclass(frozen=True)
class Intake:
    claim_id: str
    created: bool
    region_code: str


class ClaimRefused(Exception):
    """Claims refused the report for good (unknown elevator, another region, bad input)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class ClaimsClient:
    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        self._md = _md(token)

    async def report_loss(
        self,
        *,
        token: str,
        source_event_id: str,
        registration_code: str,
        fault_category: str,
        occurred_at: datetime,
        description: str,
    ) -> Intake:
        """FNOL as the alarm's partner (``token`` carries its regions, so claims refuses an
        elevator outside them)."""
        try:
            reply = await self._stub.ReportLoss(
                cpb.ReportLossRequest(
                    source=cpb.SOURCE_IOT_ALARM,
                    source_event_id=source_event_id,
                    registration_code=registration_code,
                    fault_category=fault_category,
                    occurred_at=to_timestamp(occurred_at),
                    description=description,
                ),
                metadata=_md(token),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in _TRANSIENT:
                raise UpstreamUnavailable(f"claims: {error.code().name}") from error
            details = details_of(error)
            raise ClaimRefused(details.reason or error.code().name, details.message) from error
        return Intake(reply.claim.claim_id, reply.created, reply.claim.region_code)

    async def claim_region(self, claim_id: str) -> str:
        try:
            reply = await self._stub.GetClaim(
                cpb.GetClaimRequest(claim_id=claim_id), metadata=self._md, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable("claims", error) from error
        return reply.claim.region_code

    async def events(self, cursor: str, limit: int) -> tuple[list[SourceEvent], str]:
        try:
            reply = await self._stub.ListEvents(
                cpb.ListEventsRequest(after_cursor=cursor, limit=limit),
                metadata=self._md,
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable("claims", error) from error
        return _events("claims", reply.events), reply.next_cursor


class PolicyClient:
    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self._md = _md(token)

    async def events(self, cursor: str, limit: int) -> tuple[list[SourceEvent], str]:
        try:
            reply = await self._stub.ListEvents(
                ppb.ListEventsRequest(after_cursor=cursor, limit=limit),
                metadata=self._md,
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            raise _unavailable("policy", error) from error
        return _events("policy", reply.events), reply.next_cursor


def _events(source: str, events: Sequence[cpb.Event | ppb.Event]) -> list[SourceEvent]:
    return [
        SourceEvent(
            source=source,
            event_id=e.event_id,
            topic=e.topic,
            key=e.key,
            payload=json.loads(e.payload_json),
            created_at=e.created_at.ToDatetime(tzinfo=UTC),
        )
        for e in events
    ]


class PartnerInboxes:
    """Channels to the partners' PartnerInboxService, one per address, kept open."""

    def __init__(self) -> None:
        self._channels: dict[str, grpc.aio.Channel] = {}

    async def deliver(
        self, addr: str, request: xpb.DeliverRequest, *, timestamp: int, signature: str
    ) -> bool:
        """True if the partner had it already; UpstreamUnavailable if it did not take it."""
        channel = self._channels.get(addr)
        if channel is None:
            channel = self._channels[addr] = grpc.aio.insecure_channel(addr, options=INBOX_OPTIONS)
        stub = exchange_pb2_grpc.PartnerInboxServiceStub(channel)
        try:
            reply = await stub.Deliver(
                request,
                metadata=(
                    ("x-elevins-timestamp", str(timestamp)),
                    ("x-elevins-signature", signature),
                ),
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            # Anything but a clean answer is a failed attempt: retried with backoff, then dead.
            raise UpstreamUnavailable(f"{addr}: {error.code().name} {error.details()}") from error
        return reply.duplicate

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(grace=None)
        self._channels.clear()
