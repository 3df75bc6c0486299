"""Protobuf ⇄ core for the validation service. Stateless: rule sets are packaged data, loaded
and compiled once at start; batches arrive as packed columns, so no row is ever a message."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt

from elevins.validation.v1 import validation_pb2 as pb
from elevins.validation.v1 import validation_pb2_grpc
from services.validation.core.batch import MAX_ROWS, Batch, BatchError, TooManyRows, build_batch
from services.validation.core.fields import FieldType
from services.validation.core.rules import RuleSet
from services.validation.core.vectorised import Result, compile_rule_set, evaluate
from shared.auth import Role, require_role
from shared.clock import Clock, shanghai_date
from shared.errors import ServiceError, Violations, bad_field

CALLERS = (
    Role.SERVICE,
    Role.PARTNER,
    Role.SUPERVISOR,
    Role.ADJUSTER,
    Role.SENIOR_REVIEWER,
    Role.AUDITOR,
)
_PACKED = {
    FieldType.INT: "ints",
    FieldType.FLOAT: "floats",
    FieldType.BOOL: "bools",
    FieldType.STR: "strings",
    FieldType.DATE: "dates",
}


def rule_set_pb(rs: RuleSet) -> pb.RuleSet:
    return pb.RuleSet(
        name=rs.name,
        version=rs.version,
        fields={name: str(kind) for name, kind in rs.fields.items()},
        rules=[
            pb.Rule(
                code=r.code,
                description=r.description_en,
                severity=str(r.severity),
                expression=r.expr.source,
                effective_from=str(r.effective_from or ""),
                effective_to=str(r.effective_to or ""),
            )
            for r in rs.rules
        ],
    )


def _text(value: object) -> str:
    return "null" if value is None else str(value)


class ValidationServicer(validation_pb2_grpc.ValidationServiceServicer):
    def __init__(self, rule_sets: Mapping[str, RuleSet], clock: Clock) -> None:
        self.rule_sets = dict(rule_sets)
        for rs in self.rule_sets.values():
            compile_rule_set(rs)  # fail at start, not on the first request
        self.clock = clock

    def _rule_set(self, name: str, version: str, field: str = "rule_set") -> RuleSet:
        rs = self.rule_sets.get(name)
        if rs is None:
            raise bad_field(
                field, f"unknown rule set {name!r}; known: {', '.join(sorted(self.rule_sets))}"
            )
        if version and version != rs.version:
            raise bad_field("version", f"{name} has version {rs.version}, not {version!r}")
        return rs

    def _day(self, text: str) -> date:
        if not text:
            return shanghai_date(self.clock.now())
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise bad_field("on", f"must be YYYY-MM-DD, got {text!r}") from None

    async def ListRuleSets(
        self, request: pb.ListRuleSetsRequest, context: Any
    ) -> pb.ListRuleSetsResponse:
        require_role(*CALLERS)
        return pb.ListRuleSetsResponse(
            rule_sets=[rule_set_pb(rs) for _, rs in sorted(self.rule_sets.items())]
        )

    async def GetRuleSet(
        self, request: pb.GetRuleSetRequest, context: Any
    ) -> pb.GetRuleSetResponse:
        require_role(*CALLERS)
        return pb.GetRuleSetResponse(
            rule_set=rule_set_pb(self._rule_set(request.name, request.version, "name"))
        )

    async def Validate(self, request: pb.ValidateRequest, context: Any) -> pb.ValidateResponse:
        require_role(*CALLERS)
        rs = self._rule_set(request.rule_set, request.version)
        on = self._day(request.on)
        v = Violations()
        for name in sorted(set(request.fields) - set(rs.fields)):
            v.add(f"fields[{name}]", f"not a field of {rs.name}")
        columns: dict[str, list[object]] = {}
        for name, kind in rs.fields.items():
            value = request.fields.get(name)
            columns[name] = [
                _scalar(value, kind, f"fields[{name}]", v) if value is not None else None
            ]
        v.raise_if_any()
        result = evaluate(rs, _batch(rs, columns), on=on, trace=request.trace)
        failed = result.failed_codes(0)
        traces = result.traces or {}
        return pb.ValidateResponse(
            failed=list(failed),
            rule_set_version=rs.version,
            trace=[
                pb.RuleTrace(
                    code=code,
                    values={f: _text(vals[0]) for f, vals in traces[code].values.items()},
                )
                for code in failed
                if code in traces
            ],
        )

    async def ValidateBatches(
        self, request_iterator: AsyncIterator[pb.ValidateBatchesRequest], context: Any
    ) -> AsyncIterator[pb.ValidateBatchesResponse]:
        require_role(*CALLERS)
        async for request in request_iterator:
            try:
                rs = self._rule_set(request.rule_set, request.version)
                result = evaluate(rs, _columnar(rs, request.columns), on=self._day(request.on))
            except (BatchError, ServiceError) as error:
                # A bad batch is answered in the stream, which goes on: one partner's bad file
                # must not cost it the connection and the batches already queued behind it.
                field, reason = _describe(error)
                yield pb.ValidateBatchesResponse(
                    batch_id=request.batch_id, error=pb.BatchError(field=field, reason=reason)
                )
                continue
            yield pb.ValidateBatchesResponse(
                batch_id=request.batch_id,
                rows=result.n,
                rule_set_version=rs.version,
                failures=_failures(result),
            )


def _describe(error: BatchError | ServiceError) -> tuple[str, str]:
    if isinstance(error, BatchError):
        return error.field, error.reason
    first = error.violations[0] if error.violations else None
    return (first.field, first.description) if first else ("", error.message)


def _failures(result: Result) -> list[pb.RowFailures]:
    # (row, rule) of every failure, by row then rule: one pass over the matrix, not one per row.
    rows, rules = np.nonzero(result.failed.T)
    if not rows.size:
        return []
    codes = result.codes
    named = [codes[i] for i in rules.tolist()]
    cuts = (np.flatnonzero(np.diff(rows)) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, len(named)]
    return [
        pb.RowFailures(row=row, codes=named[start:end])
        for row, start, end in zip(rows[starts].tolist(), starts, ends, strict=True)
    ]


def _scalar(value: pb.Value, kind: FieldType, field: str, v: Violations) -> object:
    which = value.WhichOneof("kind")
    if which is None:
        return None
    expected = {
        FieldType.INT: "int_value",
        FieldType.FLOAT: "float_value",
        FieldType.BOOL: "bool_value",
        FieldType.STR: "string_value",
        FieldType.DATE: "date_value",
    }[kind]
    if which == "int_value" and kind is FieldType.FLOAT:
        return float(value.int_value)
    if which != expected:
        v.add(field, f"expected {kind}, got {which}")
        return None
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(value.date_value)
        except ValueError:
            v.add(field, f"must be YYYY-MM-DD, got {value.date_value!r}")
            return None
    return getattr(value, which)


def _batch(rs: RuleSet, columns: Mapping[str, list[object]]) -> Batch:
    try:
        return build_batch(rs.fields, columns)
    except BatchError as error:
        raise bad_field(error.field, error.reason) from None


def _columnar(rs: RuleSet, columns: Any) -> Batch:
    arrays: dict[str, Any] = {}
    nulls: dict[str, npt.NDArray[np.bool_]] = {}
    for column in columns:
        if column.name in arrays:
            raise BatchError(column.name, "column sent twice")
        kind = rs.fields.get(column.name)
        if kind is None:
            raise BatchError(column.name, "unknown field")
        packed = {name: len(getattr(column, name)) for name in _PACKED.values()}
        used = [name for name, size in packed.items() if size]
        if used and used != [_PACKED[kind]]:
            raise BatchError(
                column.name, f"expected {kind} values ({_PACKED[kind]}), got {', '.join(used)}"
            )
        values = getattr(column, _PACKED[kind])
        if len(values) > MAX_ROWS:  # before any copy: memory stays bounded by the message
            raise TooManyRows(column.name, f"{len(values)} rows; at most {MAX_ROWS} per batch")
        if kind is FieldType.STR:
            arrays[column.name] = list(values)
        else:
            dtype = {
                FieldType.INT: np.int64,
                FieldType.FLOAT: np.float64,
                FieldType.BOOL: np.bool_,
                FieldType.DATE: np.int64,
            }[kind]
            arrays[column.name] = np.asarray(values, dtype=dtype)
        if column.nulls:
            mask = np.zeros(len(values), dtype=np.bool_)
            index = np.asarray(column.nulls, dtype=np.int64)
            if index.size and (index.max() >= len(values)):
                raise BatchError(column.name, "a null index beyond the column")
            mask[index] = True
            nulls[column.name] = mask
    return build_batch(rs.fields, arrays, nulls)
