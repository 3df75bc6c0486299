"""Demo contractors for Zhuzhou with six months of job events and their monthly standings.

Each demo contractor has a quality (the chance a job goes well) and a size, so the demo shows
the list at work: a good large firm reaches white after the minimum time in grey, a bad one
reaches black, a firm with a handful of jobs is shrunk toward the regional mean. Idempotent:
the event ids are fixed per month, registration repeats are no-ops, recompute replaces.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from functools import partial
from typing import Any

from services.contractors.domain.events import EventKind, JobEvent
from services.contractors.domain.scorecards import Period
from services.contractors.server import build_usecases
from services.contractors.settings import ContractorsSettings
from services.contractors.store import ContractorRow, ContractorsStore, StoredEvent
from shared.auth import Principal, Role, set_principal

MONTHS = 6
PARTS = ("door_operator", "brake", "encoder", "rope", "controller", "light_curtain")


@dataclass(frozen=True)
class DemoContractor:
    row: ContractorRow
    quality: float  # chance that a job goes well
    elevators: int  # elevators looked after (jobs scale with it)


def _firm(
    cid: str, name: str, licence: str, regions: tuple[str, ...], workers: int
) -> ContractorRow:
    return ContractorRow(cid, name, licence, regions, 0, workers)


DEMO: tuple[DemoContractor, ...] = (
    # The claims demo dispatches demo-contractor: a middling firm, grey.
    DemoContractor(
        _firm(
            "demo-contractor",
            "株洲湘安电梯维保有限公司",
            "TS3343001-2026",
            ("430202", "430203"),
            18,
        ),
        0.80,
        40,
    ),
    DemoContractor(
        _firm("zz-lift-02", "株洲通达电梯工程有限公司", "TS3343002-2026", ("430202",), 30), 0.97, 60
    ),
    DemoContractor(
        _firm("zz-lift-03", "湖南恒升电梯服务有限公司", "TS3343003-2026", ("430203", "430204"), 22),
        0.85,
        45,
    ),
    DemoContractor(
        _firm("zz-lift-04", "株洲快修电梯有限公司", "TS3343004-2026", ("430204",), 6), 0.30, 50
    ),
    DemoContractor(
        _firm("zz-lift-05", "天元区小微电梯维修部", "TS3343005-2026", ("430211",), 2), 0.90, 3
    ),
)


def _id_prefix(firm: DemoContractor) -> str:
    """Event ids are unique per sender, so they name the firm: with one numbering for all,
    each firm's events after the first were skipped as repeats of the first's ids. The first
    firm keeps the ids it always had, so a database seeded before gains no copy of them."""
    return "demo" if firm is DEMO[0] else f"demo-{firm.row.id}"


def _events(firm: DemoContractor, month: Period, rng: random.Random) -> list[StoredEvent]:
    """One month of a firm's work: visits every 15 days, faults, quotes, a few inspections."""
    out: list[StoredEvent] = []
    days = (month.end - month.start).days + 1

    def add(kind: EventKind, elevator: int, **measures: Any) -> None:
        region = firm.row.regions[elevator % len(firm.row.regions)]
        on = month.start + dt.timedelta(days=rng.randrange(days))
        event = JobEvent(
            firm.row.id, region, f"{firm.row.id}-E{elevator:03d}", kind, on, **measures
        )
        out.append(StoredEvent(f"{_id_prefix(firm)}-{month}-{len(out):05d}", event))

    def ok() -> bool:
        return rng.random() < firm.quality

    for e in range(firm.elevators):
        for _ in range(2 if ok() else 1):  # a bad firm skips visits
            add(EventKind.MAINTENANCE, e)
        if rng.random() < 0.15:
            add(EventKind.REPAIR, e, part=rng.choice(PARTS), repaired_within_24h=ok())
        if rng.random() < 0.05:
            add(EventKind.RESCUE, e, arrival_minutes=rng.uniform(8, 25) if ok() else 40.0)
        if rng.random() < 0.08:
            quoted = rng.randrange(50_000, 800_000)
            trimmed = 0 if ok() else quoted // 3
            add(EventKind.QUOTE, e, quoted_fen=quoted, trimmed_fen=trimmed)
        if rng.random() < 0.08:
            add(EventKind.INSPECTION, e, inspection_first_pass=ok())
        if not ok() and rng.random() < 0.1:
            add(EventKind.COMPLAINT, e)
    return out


async def seed_demo_contractors(settings: ContractorsSettings) -> None:
    uc = build_usecases(settings)
    set_principal(Principal("demo-seed", Role.SERVICE, frozenset({"*"}), expires_at=2**62))
    this_month = uc.this_month()
    months = [Period.from_index(this_month.index - k) for k in range(MONTHS, 0, -1)]

    async def register_and_record(store: ContractorsStore) -> int:
        stored = 0
        for firm in DEMO:
            row = ContractorRow(**{**firm.row.__dict__, "elevators_maintained": firm.elevators})
            if await store.contractor(row.id) is None:  # a demo firm edited later stays as is
                await uc.register(store, row)
            rng = random.Random(f"{firm.row.id}")  # noqa: S311  (reproducible demo data)
            for month in months:
                events = _events(firm, month, rng)
                report = await uc.record_events(store, events, [], first_index=range(len(events)))
                stored += report.stored
        return stored

    async def standings_text(store: ContractorsStore) -> str:
        return ", ".join(
            [f"{f.row.id} {(await uc.standing(store, f.row.id)).status}" for f in DEMO]
        )

    try:
        stored = await uc.transaction(register_and_record)
        for month in months:
            result = await uc.transaction(partial(uc.recompute, period=month))
        standings = await uc.read(standings_text)
    finally:
        await uc.dispose()
    print(
        f"demo contractors: {len(DEMO)} firms, {stored} new job events over {months[0]}–"
        f"{months[-1]} ({result.weights_version}); standings: {standings}"
    )
