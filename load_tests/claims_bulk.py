"""A city's worth of claims (100,000 by default), written straight into the claims schema.

For the queue and dashboard benchmark: building 100,000 claims through the API would take an
hour on this machine, and what is measured is reading them. The rows follow the rules the
service keeps (the state machine's order of clocks, one active claim per elevator and fault,
the claim row's queue columns computed from its clocks, quote and flags exactly as the store
keeps them), so the queries meet the shapes live data has:

- 80% of claims in Zhuzhou's five districts, 20% in four of Changsha's; 400 communities of 50
  elevators each; 200 contractors;
- 70% finished (closed, paid, rejected) and reported over three years, 30% active and mostly
  recent (a few stuck for months), in every active state;
- one claim in five a trapped passenger (arrival clock, 30 minutes, target 15); a repair clock
  on every claim (24 hours); a payment clock from confirmation (about three working days,
  taken as five calendar days here); clocks met late or overdue are breached, as the sweeper
  would have flagged them;
- quotes of about 4,000 CNY (log-normal), flags drawn per code at rates a claims department
  might see (price above reference 30%, evidence 3% ...), approvals trimmed where flagged.

Deterministic for a seed. Generated rows only: nothing here talks to a database.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

ZHUZHOU = ("430202", "430203", "430204", "430211", "430212")
CHANGSHA = ("430102", "430103", "430104", "430105")
COMMUNITIES = 400
ELEVATORS_PER_COMMUNITY = 50
CONTRACTORS = 200
CATEGORIES = (
    ("trapped_passenger", "trapped_passenger", 0.20),
    ("abnormal_noise", "mechanical_failure", 0.25),
    ("door_fault", "door_system", 0.25),
    ("stopped", "mechanical_failure", 0.15),
    ("leveling_fault", "mechanical_failure", 0.08),
    ("electrical_fault", "electrical_failure", 0.07),
)
ACTIVE_STATES = (
    ("reported", 0.08),
    ("dispatched", 0.08),
    ("on_site", 0.10),
    ("quoted", 0.04),
    ("under_review", 0.30),
    ("pending_second_review", 0.05),
    ("approved", 0.10),
    ("partly_approved", 0.03),
    ("repaired", 0.14),
    ("confirmed", 0.08),
)
FINISHED_STATES = (("closed", 0.60), ("paid", 0.30), ("rejected", 0.10))
_CATEGORY_CHOICES = tuple(((c, p), w) for c, p, w in CATEGORIES)
FLAG_RATES = (
    ("PRICE_ABOVE_REFERENCE", 0.30),
    ("QTY_ABOVE_SPEC", 0.08),
    ("UNMATCHED_ITEM", 0.10),
    ("PART_UNRELATED_TO_FAULT", 0.05),
    ("LABOUR_ABOVE_NORM", 0.05),
    ("VALIDATION_WARNING", 0.06),
    ("VALIDATION_ERROR", 0.04),
    ("EVIDENCE_FLAGGED", 0.03),
    ("NOT_COVERED", 0.02),
    ("CONTRACTOR_BLACKLISTED", 0.01),
    ("LIMIT_CAPPED", 0.01),
)
_ORDER = [s for s, _ in ACTIVE_STATES]
QUOTED_FROM = _ORDER.index("quoted")
ASSESSED_FROM = _ORDER.index("under_review")
APPROVED_FROM = _ORDER.index("pending_second_review")
REPAIRED_FROM = _ORDER.index("repaired")
ARRIVED_FROM = _ORDER.index("on_site")
DISPATCHED_FROM = _ORDER.index("dispatched")

CLAIM_COLUMNS = (
    "id",
    "elevator_id",
    "registration_code",
    "region_code",
    "category",
    "peril",
    "description",
    "source",
    "state",
    "policy_id",
    "contractor_id",
    "report_count",
    "reported_at",
    "reported_by",
    "quote_submitter",
    "recommendation",
    "approved_total_fen",
    "line_approvals",
    "pm_confirmed_by",
    "owner_confirmed_by",
    "updated_at",
    "community_id",
    "next_due_at",
    "next_due_clock",
    "breached_clocks",
    "flags",
    "quoted_total_fen",
    "paid_fen",
)
CLOCK_COLUMNS = ("claim_id", "kind", "starts_at", "due_at", "target_at", "met_at", "breached_at")
QUOTE_COLUMNS = ("claim_id", "version", "lines", "total_fen", "submitted_by", "submitted_at")
PAYOUT_COLUMNS = ("claim_id", "policy_id", "contractor_id", "amount_fen", "paid_at", "paid_by")


@dataclass
class Bulk:
    """Rows for COPY, column by column as the ``*_COLUMNS`` name them."""

    claims: list[tuple[Any, ...]] = field(default_factory=list)
    clocks: list[tuple[Any, ...]] = field(default_factory=list)
    quotes: list[tuple[Any, ...]] = field(default_factory=list)
    payouts: list[tuple[Any, ...]] = field(default_factory=list)
    active: int = 0
    states: dict[str, int] = field(default_factory=dict)


def _pick(rng: random.Random, weighted: tuple[tuple[Any, float], ...]) -> Any:
    values, weights = _SPLIT.get(id(weighted)) or _SPLIT.setdefault(
        id(weighted), ([v for v, *_ in weighted], [w for *_, w in weighted])
    )
    return rng.choices(values, weights)[0]


_SPLIT: dict[int, tuple[list[Any], list[float]]] = {}


def _community_region(community: int) -> str:
    """320 communities in Zhuzhou's districts, 80 in Changsha's."""
    if community < 320:
        return ZHUZHOU[community % len(ZHUZHOU)]
    return CHANGSHA[community % len(CHANGSHA)]


@dataclass
class _Clock:
    kind: str
    starts_at: datetime
    due_at: datetime
    target_at: datetime | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None

    def settle(self, now: datetime) -> None:
        """Breached as the service would have recorded it: met late, or swept overdue."""
        if self.met_at is not None and self.met_at >= self.due_at:
            self.breached_at = self.met_at
        elif self.met_at is None and self.due_at < now:
            self.breached_at = self.due_at


def generate(count: int, *, now: datetime, seed: int = 7) -> Bulk:
    rng = random.Random(seed)
    bulk = Bulk()
    used: set[tuple[int, str]] = set()  # (elevator, category) of active claims
    elevators = COMMUNITIES * ELEVATORS_PER_COMMUNITY
    for i in range(count):
        active = rng.random() < 0.30
        category, peril = _pick(rng, _CATEGORY_CHOICES)
        elevator = rng.randrange(elevators)
        while active and (elevator, category) in used:
            elevator = rng.randrange(elevators)
        if active:
            used.add((elevator, category))
        community = elevator // ELEVATORS_PER_COMMUNITY
        state = _pick(rng, ACTIVE_STATES if active else FINISHED_STATES)
        bulk.states[state] = bulk.states.get(state, 0) + 1
        bulk.active += active
        if active:
            age = timedelta(days=min(365.0, rng.expovariate(1 / 5)))
        else:
            age = timedelta(days=rng.uniform(3, 3 * 365))
        reported = now - age
        _one(bulk, rng, i, state, category, peril, elevator, community, reported, now)
    return bulk


def _one(
    bulk: Bulk,
    rng: random.Random,
    i: int,
    state: str,
    category: str,
    peril: str,
    elevator: int,
    community: int,
    reported: datetime,
    now: datetime,
) -> None:
    claim_id = f"clm_bench{i:07d}"
    finished = state in ("closed", "paid", "rejected")
    step = len(_ORDER) if finished else _ORDER.index(state)
    rejected = state == "rejected" or (state == "closed" and rng.random() < 0.15)
    paid = finished and not rejected

    def at_most_now(moment: datetime, floor: datetime) -> datetime:
        return max(floor, min(moment, now - timedelta(seconds=30)))

    clocks: list[_Clock] = []
    if category == "trapped_passenger":
        arrival = _Clock(
            "arrival",
            reported,
            reported + timedelta(minutes=30),
            target_at=reported + timedelta(minutes=15),
        )
        if step >= ARRIVED_FROM:
            minutes = rng.lognormvariate(math.log(14), 0.45)
            arrival.met_at = at_most_now(reported + timedelta(minutes=minutes), reported)
        clocks.append(arrival)
    repair = _Clock("repair", reported, reported + timedelta(hours=24))
    if (step >= REPAIRED_FROM and not rejected) or paid:
        hours = rng.lognormvariate(math.log(10), 0.8)
        repair.met_at = at_most_now(reported + timedelta(hours=hours), reported)
    clocks.append(repair)
    if state == "confirmed" or paid:
        assert repair.met_at is not None
        confirmed = at_most_now(repair.met_at + timedelta(hours=rng.uniform(2, 30)), repair.met_at)
        payment = _Clock("payment", confirmed, confirmed + timedelta(days=5))
        if paid:
            payment.met_at = at_most_now(
                confirmed + timedelta(days=rng.uniform(0.2, 6.0)), confirmed
            )
        clocks.append(payment)
    for clock in clocks:
        clock.settle(now)

    quoted = step >= QUOTED_FROM
    assessed = step >= ASSESSED_FROM
    approved = (step >= APPROVED_FROM and not rejected) or paid
    flags = sorted(code for code, rate in FLAG_RATES if rng.random() < rate) if assessed else []
    quoted_fen = int(round(min(15_000_000, rng.lognormvariate(math.log(400_000), 1.0)), -2))
    trimmed = "PRICE_ABOVE_REFERENCE" in flags or "QTY_ABOVE_SPEC" in flags
    approved_fen = round(quoted_fen * (rng.uniform(0.55, 0.95) if trimmed else 1.0))
    contractor = f"ctr-{rng.randrange(CONTRACTORS):03d}" if step >= DISPATCHED_FROM else None
    running = sorted((c.due_at, c.kind) for c in clocks if c.met_at is None)
    recommendation = _recommendation(flags, quoted_fen, approved_fen) if assessed else None
    bulk.claims.append(
        (
            claim_id,
            f"elv_{elevator:05d}",
            f"梯11湘B{elevator:05d}(18)",
            _community_region(community),
            category,
            peril,
            "主机异响，运行抖动",
            "iot_alarm",
            state,
            f"pol_{elevator:05d}" if quoted else None,
            contractor,
            1 + (rng.random() < 0.1),
            reported,
            "bench-iot",
            contractor if quoted else None,
            recommendation,
            approved_fen if approved else None,
            json.dumps({"1": approved_fen}) if approved else None,
            "bench-pm:王" if state == "confirmed" or paid else None,
            "bench-owner:李" if state == "confirmed" or paid else None,
            now,
            f"com_{community:03d}",
            running[0][0] if running else None,
            running[0][1] if running else None,
            sorted(c.kind for c in clocks if c.breached_at is not None),
            flags,
            quoted_fen if quoted else None,
            approved_fen if paid else None,
        )
    )
    bulk.clocks.extend(
        (claim_id, c.kind, c.starts_at, c.due_at, c.target_at, c.met_at, c.breached_at)
        for c in clocks
    )
    if quoted:
        line = (
            '[{"line_no": 1, "description": "曳引机 7.5KW", "quantity": "1", "unit": "台", '
            f'"unit_price_fen": {quoted_fen}, "amount_fen": {quoted_fen}}}]'
        )
        bulk.quotes.append((claim_id, 1, line, quoted_fen, contractor, reported))
    if paid:
        payment_met = clocks[-1].met_at
        bulk.payouts.append(
            (claim_id, f"pol_{elevator:05d}", contractor, approved_fen, payment_met, "bench-svc")
        )


_STEPS = ("coverage", "pricing", "validation", "evidence", "contractor", "limits", "routing")
# The same short trace on every claim, encoded once (this runs 70,000 times per 100,000).
_TRACE = json.dumps(
    [
        {
            "step": s,
            "source": f"{s}@bench",
            "version": "v1",
            "verdict": "ok",
            "detail": "reference obs-14-3f2a9c; band top within tolerance",
        }
        for s in _STEPS
    ]
)


def _recommendation(flags: list[str], quoted_fen: int, approved_fen: int) -> str:
    """JSON of the shape ``usecases._jsonable(Recommendation)`` stores, with a short trace."""
    needs_person = bool(set(flags) - {"PRICE_ABOVE_REFERENCE", "VALIDATION_WARNING"})
    codes = json.dumps(flags)
    return (
        f'{{"lines": [{{"line_no": 1, "submitted_fen": {quoted_fen}, '
        f'"approved_fen": {approved_fen}, "reason_codes": {codes}}}], '
        f'"approved_total_fen": {approved_fen}, '
        f'"reason_codes": {json.dumps([*flags, "ABOVE_STRAIGHT_THROUGH_LIMIT"])}, '
        f'"straight_through": false, "needs_person": {json.dumps(needs_person)}, '
        f'"trace": {_TRACE}, "max_payable_fen": 15000000}}'
    )


def batches(rows: list[tuple[Any, ...]], size: int = 20_000) -> Iterator[list[tuple[Any, ...]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]
