"""Partner formats, in and out: column names and coded values → our fields, versioned.

The formats are data (``formats.toml``): a bureau that changes its export adds a version and
old files keep importing as they did. Chinese column names are the norm, not an exception.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from services.exchange.domain.records import KEY_FIELDS, KINDS, DateStyle
from shared.domain_errors import InvalidFields, InvalidInput

ALARM_FIELDS = ("alarm_id", "registration_code", "fault_code", "occurred_at", "description")
FEEDS = (*KINDS, "alarm")


@dataclass(frozen=True)
class Format:
    partner: str
    kind: str
    version: int
    date_style: DateStyle
    columns: Mapping[str, str]  # theirs → ours
    values: Mapping[str, Mapping[str, str]]  # our field → their value → ours

    @property
    def format_id(self) -> str:
        return f"{self.partner}/{self.kind}/v{self.version}"

    def may_be_used_by(self, partner_id: str, *, operator: bool) -> bool:
        return operator or partner_id == self.partner


# Our own names: what a caller gets with an empty format.
def canonical(kind: str) -> Format:
    names = ALARM_FIELDS if kind == "alarm" else (*KEY_FIELDS, *KINDS[kind].names)
    return Format("elevins", kind, 1, DateStyle.ISO, {n: n for n in names}, {})


@dataclass(frozen=True)
class OutboundFormat:
    version: int
    keys: Mapping[str, str]

    def render(self, payload: Any) -> Any:
        """Rename keys (recursively); values are ours: fen integers, ISO dates, ids."""
        if isinstance(payload, dict):
            return {self.keys.get(k, k): self.render(v) for k, v in payload.items()}
        if isinstance(payload, list):
            return [self.render(v) for v in payload]
        return payload


@dataclass(frozen=True)
class FormatBook:
    formats: Mapping[str, Format]
    outbound: Mapping[int, OutboundFormat]

    def find(self, format_id: str, kind: str, partner_id: str, *, operator: bool) -> Format:
        if not format_id:
            return canonical(kind)
        found = self.formats.get(format_id)
        if found is None or not found.may_be_used_by(partner_id, operator=operator):
            raise InvalidInput(f"no format {format_id!r} of yours; see ListFormats", field="format")
        if found.kind != kind:
            raise InvalidInput(f"{format_id} is a {found.kind} format, not {kind}", field="format")
        return found

    def outbound_format(self, version: int) -> OutboundFormat:
        return self.outbound.get(version, OutboundFormat(1, {}))


def load_formats(text: str | None = None) -> FormatBook:
    raw = tomllib.loads(
        text
        if text is not None
        else resources.files("services.exchange.domain").joinpath("formats.toml").read_text("utf-8")
    )
    formats: dict[str, Format] = {}
    for entry in raw.get("formats", []):
        kind = entry["kind"]
        if kind not in FEEDS:
            raise ValueError(f"formats.toml: unknown kind {kind!r}")
        known = set(ALARM_FIELDS if kind == "alarm" else (*KEY_FIELDS, *KINDS[kind].names))
        columns = dict(entry["columns"])
        unknown = set(columns.values()) - known
        if unknown:
            raise ValueError(f"formats.toml {entry['partner']}/{kind}: unknown {sorted(unknown)}")
        fmt = Format(
            partner=entry["partner"],
            kind=kind,
            version=int(entry["version"]),
            date_style=DateStyle(entry.get("date_style", "iso")),
            columns=columns,
            values={k: dict(v) for k, v in entry.get("values", {}).items()},
        )
        if fmt.format_id in formats:
            raise ValueError(f"formats.toml: {fmt.format_id} twice")
        formats[fmt.format_id] = fmt
    outbound = {
        int(e["version"]): OutboundFormat(int(e["version"]), dict(e["keys"]))
        for e in raw.get("outbound", [])
    }
    return FormatBook(formats, outbound)


def map_header(fmt: Format, header: Sequence[str], *, required: Sequence[str]) -> list[str | None]:
    """Our field for each column of ``header`` (None for none); InvalidFields naming every
    unknown, repeated or missing column: a file that does not fit its format is refused whole,
    before any row is applied (a layout change must not be half-imported)."""
    problems: list[InvalidInput] = []
    ours: list[str | None] = []
    seen: set[str] = set()
    for position, name in enumerate(header):
        column = name.strip().lstrip("\ufeff")
        field = fmt.columns.get(column)
        if field is None:
            if column:
                problems.append(
                    InvalidInput(f"column {position + 1} {column!r} is not in {fmt.format_id}")
                )
            ours.append(None)
            continue
        if field in seen:
            problems.append(InvalidInput(f"column {column!r} maps to {field} a second time"))
        seen.add(field)
        ours.append(field)
    for field in required:
        if field not in seen:
            theirs = next((k for k, v in fmt.columns.items() if v == field), field)
            problems.append(InvalidInput(f"missing the column {theirs!r} ({field})"))
    for p in problems:
        p.field = "header"
    if problems:
        raise InvalidFields(problems)
    return ours


def map_values(fmt: Format, field: str, values: Sequence[str]) -> Sequence[str]:
    """Their coded values of ``field`` as ours (合格 → passed); others pass through."""
    table = fmt.values.get(field)
    if not table:
        return values
    return [table.get(v.strip(), v) for v in values]
