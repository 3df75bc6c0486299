"""Job events: the facts a contractor's scorecard is computed from.

One record per thing that happened (a rescue, a repair, a maintenance visit, a quote, an
evidence flag, a complaint, a regulator inspection). Each kind fills only the measures it has;
the others stay ``None``, and a measure on the wrong kind is refused, so a record always means
one thing. Derived facts (a repair that is a repeat fault, a maintenance visit more than 15
days after the previous one) are *not* stored: the scorecard derives them from the events
themselves, so they can never disagree with the history.

``EventColumns`` is the columnar form the bulk scorer reads (one numpy array per field); a
store or a benchmark can build it directly without making a million dataclasses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from shared.domain_errors import InvalidValue


class EventKind(StrEnum):
    RESCUE = "rescue"  # trapped passengers (困人): arrival_minutes
    REPAIR = "repair"  # a fault repaired: part, repaired_within_24h
    MAINTENANCE = "maintenance"  # routine visit, due every 15 days
    QUOTE = "quote"  # a repair quote judged by pricing: quoted_fen, trimmed_fen
    EVIDENCE_FLAG = "evidence_flag"  # evidence photos flagged (reused, mismatched)
    COMPLAINT = "complaint"  # an owners' or property manager's complaint
    INSPECTION = "inspection"  # regulator's periodic inspection: inspection_first_pass


KIND_ORDER: tuple[EventKind, ...] = tuple(EventKind)
"""Stable integer codes of the kinds in ``EventColumns.kind`` (index in this tuple)."""

_MEASURES: dict[str, EventKind] = {
    "arrival_minutes": EventKind.RESCUE,
    "repaired_within_24h": EventKind.REPAIR,
    "quoted_fen": EventKind.QUOTE,
    "trimmed_fen": EventKind.QUOTE,
    "inspection_first_pass": EventKind.INSPECTION,
}


@dataclass(frozen=True)
class JobEvent:
    contractor_id: str
    region: str
    elevator_id: str
    kind: EventKind
    occurred_on: dt.date
    part: str = ""  # repairs: the part category that failed (first-time fix is per part)
    arrival_minutes: float | None = None
    repaired_within_24h: bool | None = None
    quoted_fen: int | None = None
    trimmed_fen: int | None = None
    inspection_first_pass: bool | None = None

    def __post_init__(self) -> None:
        for name in ("contractor_id", "region", "elevator_id"):
            if not getattr(self, name).strip():
                raise InvalidValue(name, "must not be empty")
        if not isinstance(self.kind, EventKind):
            raise InvalidValue("kind", f"unknown event kind {self.kind!r}")
        for name, kind in _MEASURES.items():
            if getattr(self, name) is not None and self.kind is not kind:
                raise InvalidValue(name, f"is a measure of {kind} events, not {self.kind}")
        required = [n for n, k in _MEASURES.items() if k is self.kind]
        for name in required:
            if getattr(self, name) is None:
                raise InvalidValue(name, f"is required on {self.kind} events")
        if self.kind is EventKind.REPAIR and not self.part.strip():
            raise InvalidValue("part", "is required on repair events (first-time fix is per part)")
        if self.arrival_minutes is not None and not self.arrival_minutes >= 0:
            raise InvalidValue("arrival_minutes", "must be a number of minutes >= 0")
        if self.quoted_fen is not None and self.trimmed_fen is not None:  # noqa: SIM102
            if self.quoted_fen < 0 or not 0 <= self.trimmed_fen <= self.quoted_fen:
                raise InvalidValue("trimmed_fen", "must be between 0 and quoted_fen (>= 0)")


IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class EventColumns:
    """Events as columns. Ids are codes into the name tuples; missing measures are NaN / -1.

    ``day`` is ``date.toordinal()``; booleans are int8 with -1 for "not measured".
    """

    contractors: tuple[str, ...]
    regions: tuple[str, ...]
    contractor: IntArray
    region: IntArray
    elevator: IntArray
    part: IntArray
    kind: IntArray
    day: IntArray
    arrival_minutes: FloatArray
    repaired_within_24h: npt.NDArray[np.int8]
    quoted_fen: IntArray
    trimmed_fen: IntArray
    inspection_first_pass: npt.NDArray[np.int8]

    def __len__(self) -> int:
        return int(self.day.shape[0])


def _codes(values: Sequence[str]) -> tuple[tuple[str, ...], IntArray]:
    names = tuple(sorted(set(values)))
    index = {name: i for i, name in enumerate(names)}
    return names, np.fromiter((index[v] for v in values), dtype=np.int64, count=len(values))


def _flag(value: bool | None) -> int:
    return -1 if value is None else int(value)


def to_columns(events: Sequence[JobEvent]) -> EventColumns:
    """The columnar form of ``events`` (any order)."""
    contractors, contractor = _codes([e.contractor_id for e in events])
    regions, region = _codes([e.region for e in events])
    _, elevator = _codes([e.elevator_id for e in events])
    _, part = _codes([e.part for e in events])
    kind_code = {k: i for i, k in enumerate(KIND_ORDER)}
    n = len(events)
    return EventColumns(
        contractors=contractors,
        regions=regions,
        contractor=contractor,
        region=region,
        elevator=elevator,
        part=part,
        kind=np.fromiter((kind_code[e.kind] for e in events), dtype=np.int64, count=n),
        day=np.fromiter((e.occurred_on.toordinal() for e in events), dtype=np.int64, count=n),
        arrival_minutes=np.fromiter(
            (np.nan if e.arrival_minutes is None else e.arrival_minutes for e in events),
            dtype=np.float64,
            count=n,
        ),
        repaired_within_24h=np.fromiter(
            (_flag(e.repaired_within_24h) for e in events), dtype=np.int8, count=n
        ),
        quoted_fen=np.fromiter((e.quoted_fen or 0 for e in events), dtype=np.int64, count=n),
        trimmed_fen=np.fromiter((e.trimmed_fen or 0 for e in events), dtype=np.int64, count=n),
        inspection_first_pass=np.fromiter(
            (_flag(e.inspection_first_pass) for e in events), dtype=np.int8, count=n
        ),
    )
