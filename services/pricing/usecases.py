"""The pricing service's operations. Judging is pure and in memory (the reference book is
rebuilt from PostgreSQL at start and after every import); imports are one transaction each."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncEngine

from services.pricing.core.catalogue import Catalogue
from services.pricing.core.labour_norms import LabourNorms
from services.pricing.core.matching import Matcher
from services.pricing.core.normalise import brand_of
from services.pricing.core.references import Observation, Reference, ReferenceBook
from services.pricing.core.rules import (
    Elevator,
    Fault,
    QuoteLine,
    QuoteVerdict,
    judge_quote,
    spec_key,
)
from services.pricing.regions import region_problem
from services.pricing.store import PricingStore, StoredObservation
from shared.auth import current_principal
from shared.clock import Clock
from shared.errors import already_exists
from shared.unit_of_work import Transactions

SOURCES = ("supplier_list", "settled_claim")


@dataclass(frozen=True)
class RawObservation:
    row: int  # 1-based position in the import
    description: str
    brand: str
    region: str
    observed_on: str
    unit_price_fen: int
    unit: str
    source: str


@dataclass(frozen=True)
class Rejection:
    row: int
    field: str
    reason: str


@dataclass(frozen=True)
class ImportReport:
    accepted: int
    rejected: tuple[Rejection, ...]
    reference_version: str


class PricingUseCases(Transactions[PricingStore]):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        *,
        catalogue: Catalogue,
        matcher: Matcher,
        labour_norms: LabourNorms,
        refresh_s: float = 2.0,
    ) -> None:
        super().__init__(engine, PricingStore)
        self.clock = clock
        self.catalogue = catalogue
        self.matcher = matcher
        self.labour_norms = labour_norms
        self.book = ReferenceBook.build([], version="empty")
        self._mark = (-1, -1)
        self._refresh_s = refresh_s
        self._checked_at = float("-inf")

    async def ensure_fresh(self) -> None:
        """Rebuild the book if another process (a seed, another replica) imported prices;
        looked at no more than once per ``refresh_s`` (one cheap query), on the request path."""
        now = time.monotonic()
        if now - self._checked_at >= self._refresh_s:
            self._checked_at = now
            await self.refresh_if_changed()

    async def refresh_if_changed(self) -> bool:
        mark = await self.read(lambda store: store.observations_mark())
        if mark == self._mark:
            return False
        await self.refresh()
        return True

    async def refresh(self) -> None:
        """Rebuild the in-memory reference book from every stored observation."""
        self._mark = await self.read(lambda store: store.observations_mark())
        stored = await self.read(lambda store: store.all_observations())
        digest = hashlib.sha256(
            repr([(o.category, o.region, o.observed_on, o.unit_price_fen) for o in stored]).encode()
        ).hexdigest()[:12]
        self.book = ReferenceBook.build(
            [
                Observation(
                    category=o.category,
                    brand=o.brand,
                    spec=o.spec,
                    region=o.region,
                    observed_on=o.observed_on,
                    unit_price_fen=o.unit_price_fen,
                    unit=o.unit,
                    source=o.source,
                )
                for o in stored
            ],
            version=f"obs-{len(stored)}-{digest}",
            units={code: c.units for code, c in self.catalogue.categories.items()},
        )

    def benchmark(
        self,
        *,
        lines: Sequence[QuoteLine],
        elevator: Elevator,
        fault: Fault,
        region: str,
        quoted_on: date,
    ) -> QuoteVerdict:
        return judge_quote(
            lines=lines,
            elevator=elevator,
            fault=fault,
            region=region,
            quoted_on=quoted_on,
            matcher=self.matcher,
            catalogue=self.catalogue,
            references=self.book,
            labour_norms=self.labour_norms,
        )

    def reference(
        self, *, category: str, region: str, on: date, brand: str | None
    ) -> Reference | None:
        return self.book.reference(
            category=category,
            region=region,
            on=on,
            brand=(brand_of(brand) or brand) if brand else None,
        )

    async def import_observations(
        self, *, request_id: str, rows: Sequence[RawObservation]
    ) -> ImportReport:
        """Store every good row in one transaction; report every bad one. Idempotent by the
        caller's request id: a re-sent file changes nothing and gets the first report."""
        caller = current_principal().subject
        rejected, good = self._check(rows)
        fingerprint = hashlib.sha256(
            repr(sorted(r.__dict__.items() for r in rows)).encode()
        ).digest()
        first = ImportReport(accepted=len(good), rejected=tuple(rejected), reference_version="")

        async def work(store: PricingStore) -> ImportReport:
            if await store.claim_import(caller, request_id, fingerprint, _encode(first)):
                await store.add_observations(good, caller=caller, request_id=request_id)
                return first
            previous = await store.previous_import(caller, request_id)
            assert previous is not None
            if previous[0] != fingerprint:
                raise already_exists(
                    "REQUEST_ID_REUSED", f"request_id {request_id!r} was used for another file"
                )
            return _decode(previous[1])

        report = await self.transaction(work)
        await self.refresh()
        return ImportReport(report.accepted, report.rejected, self.book.version)

    def _check(
        self, rows: Sequence[RawObservation]
    ) -> tuple[list[Rejection], list[StoredObservation]]:
        rejected: list[Rejection] = []
        candidates: list[tuple[RawObservation, date]] = []
        for row in rows:
            problems = check_row(row)
            if problems:
                rejected.extend(problems)
            else:
                candidates.append((row, date.fromisoformat(row.observed_on)))
        good: list[StoredObservation] = []
        matches = self.matcher.match_many([row.description for row, _ in candidates])
        for (row, observed_on), match in zip(candidates, matches, strict=True):
            if match.category is None or match.ambiguous:
                why = (
                    f"ambiguous between {match.category} and {match.runner_up}"
                    if match.ambiguous
                    else "matches no part in the catalogue"
                )
                rejected.append(Rejection(row.row, "description", why))
                continue
            good.append(
                StoredObservation(
                    category=match.category,
                    description=row.description.strip(),
                    # One spelling per brand, so brand effects pool every observation.
                    brand=(brand_of(row.brand) or row.brand.strip())
                    if row.brand.strip()
                    else match.specs.brand,
                    spec=spec_key(match.specs),
                    region=row.region,
                    observed_on=observed_on,
                    unit_price_fen=row.unit_price_fen,
                    unit=row.unit.strip(),
                    source=row.source,
                )
            )
        rejected.sort(key=lambda r: (r.row, r.field))
        return rejected, good


def check_row(row: RawObservation) -> list[Rejection]:
    """Every problem of one observation row, each naming its field."""
    problems: list[Rejection] = []

    def bad(field: str, reason: str) -> None:
        problems.append(Rejection(row.row, field, reason))

    if not row.description.strip():
        bad("description", "required")
    elif len(row.description) > 500:
        bad("description", "at most 500 characters")
    why = region_problem(row.region)
    if why:
        bad("region", why)
    try:
        day = date.fromisoformat(row.observed_on)
        if not date(2000, 1, 1) <= day <= date(2100, 1, 1):
            bad("observed_on", f"implausible date {row.observed_on}")
    except ValueError:
        bad("observed_on", f"must be YYYY-MM-DD, got {row.observed_on!r}")
    if row.unit_price_fen <= 0:
        bad("unit_price_fen", "must be positive")
    elif row.unit_price_fen > 1_000_000_000:
        bad("unit_price_fen", "above 10,000,000 CNY: a typo?")
    if not row.unit.strip():
        bad("unit", "required")
    if row.source not in SOURCES:
        bad("source", f"one of {', '.join(SOURCES)}")
    return problems


def _encode(report: ImportReport) -> bytes:
    return json.dumps(
        {"accepted": report.accepted, "rejected": [r.__dict__ for r in report.rejected]}
    ).encode()


def _decode(raw: bytes) -> ImportReport:
    data = json.loads(raw)
    return ImportReport(
        data["accepted"], tuple(Rejection(**r) for r in data["rejected"]), reference_version=""
    )
