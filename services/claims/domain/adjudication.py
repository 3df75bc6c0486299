"""The adjudication pipeline's pure part: the other services' answers → a recommendation.

The use case asks policy (coverage, limits), pricing (a reference price per line),
validation (rule findings), evidence (photo checks) and contractors (standing), then calls
:func:`recommend`. The recommendation has an approved amount per line, stable reason codes,
and a trace saying which step, from which source at which version, said what.

Rules, in order:

1. **Coverage.** Not covered → every line approved at 0, with ``NOT_COVERED`` and the policy
   service's own reasons (``LAPSED``, ``PERIL_EXCLUDED`` …); a person rejects it with those.
2. **Pricing.** A unit price above the reference → the line approved at reference × quantity
   (``PRICE_ABOVE_REFERENCE``): trimming padded quotes is the insurer's job and needs nobody's
   approval by itself. A line pricing could not match (no reference) → approved as submitted,
   but a person must look (``UNMATCHED_ITEM``): unknown is not the same as fair.
3. **Validation and evidence.** Any error finding or any evidence flag → a person must look
   (``VALIDATION_ERROR``, ``EVIDENCE_FLAGGED``). Warnings are noted (``VALIDATION_WARNING``).
4. **Contractor.** Black → a person must look, never straight through
   (``CONTRACTOR_BLACKLISTED``). *The amounts are still recommended as priced, not zeroed*:
   the repair is usually done already (repairs start at once), the owners must pay nothing
   either way, and the reviewer needs to see what the work is worth to decide; standing
   decides *who* decides, not what the work is worth. Grey → noted
   (``CONTRACTOR_GREYLISTED``), the normal threshold applies. White → the white-list
   threshold, when one is configured (fast track for good contractors).
5. **Limits.** The payable total is ``min(priced total − deductible, per-claim limit,
   remaining sum insured)`` (``DEDUCTIBLE_APPLIED``, ``LIMIT_CAPPED``); the cut is spread over
   the lines in proportion by largest remainder, so the lines add up to the total exactly.
6. **Routing.** Straight through only if covered, no person needed, something to pay, the
   total within the threshold and the contractor not black (``STRAIGHT_THROUGH``); a clean
   claim over the threshold goes to review with ``ABOVE_STRAIGHT_THROUGH_LIMIT``.

``needs_person`` means there is a specific flag a person must resolve; ``straight_through``
picks the target of ``assess`` (``approved`` or ``under_review``). A clean claim above the
threshold has neither.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Literal

from services.claims.domain.errors import InvalidValue
from services.claims.domain.quotes import Quote, line_amount
from shared.money import allocate, format_fen

Severity = Literal["error", "warning"]
StandingStatus = Literal["white", "grey", "black"]


class ReasonCode(StrEnum):
    """Why a line or a claim was adjusted, flagged or routed. Stable: never renamed or reused;
    new codes are appended."""

    NOT_COVERED = "NOT_COVERED"
    PRICE_ABOVE_REFERENCE = "PRICE_ABOVE_REFERENCE"
    UNMATCHED_ITEM = "UNMATCHED_ITEM"
    VALIDATION_ERROR = "VALIDATION_ERROR"
    VALIDATION_WARNING = "VALIDATION_WARNING"
    EVIDENCE_FLAGGED = "EVIDENCE_FLAGGED"
    CONTRACTOR_BLACKLISTED = "CONTRACTOR_BLACKLISTED"
    CONTRACTOR_GREYLISTED = "CONTRACTOR_GREYLISTED"
    DEDUCTIBLE_APPLIED = "DEDUCTIBLE_APPLIED"
    LIMIT_CAPPED = "LIMIT_CAPPED"
    NOTHING_PAYABLE = "NOTHING_PAYABLE"
    ABOVE_STRAIGHT_THROUGH_LIMIT = "ABOVE_STRAIGHT_THROUGH_LIMIT"
    STRAIGHT_THROUGH = "STRAIGHT_THROUGH"

    @property
    def en(self) -> str:
        return _TEXTS[self][0]

    @property
    def zh(self) -> str:
        return _TEXTS[self][1]


_TEXTS: dict[ReasonCode, tuple[str, str]] = {
    ReasonCode.NOT_COVERED: ("the policy does not cover this loss", "该损失不在保险责任范围内"),
    ReasonCode.PRICE_ABOVE_REFERENCE: (
        "the unit price is above the reference price; approved at the reference price",
        "单价高于参考价，按参考价核定",
    ),
    ReasonCode.UNMATCHED_ITEM: (
        "the item matches no reference price; a person must check it",
        "该项目无匹配参考价，需人工核定",
    ),
    ReasonCode.VALIDATION_ERROR: (
        "a validation rule found an error; a person must check it",
        "规则校验发现错误，需人工审核",
    ),
    ReasonCode.VALIDATION_WARNING: (
        "a validation rule raised a warning",
        "规则校验提示警告",
    ),
    ReasonCode.EVIDENCE_FLAGGED: (
        "the photo checks flagged the evidence; a person must check it",
        "影像资料检查发现问题，需人工审核",
    ),
    ReasonCode.CONTRACTOR_BLACKLISTED: (
        "the contractor is on the black list; a person must decide",
        "维保单位在黑名单中，需人工决定",
    ),
    ReasonCode.CONTRACTOR_GREYLISTED: (
        "the contractor is on the grey list (under watch)",
        "维保单位在灰名单中（重点关注）",
    ),
    ReasonCode.DEDUCTIBLE_APPLIED: ("the deductible was subtracted", "已扣除免赔额"),
    ReasonCode.LIMIT_CAPPED: (
        "capped by the per-claim limit or the remaining sum insured",
        "超出每次事故赔偿限额或剩余保险金额，按限额核定",
    ),
    ReasonCode.NOTHING_PAYABLE: ("nothing is payable on this claim", "本案无可赔付金额"),
    ReasonCode.ABOVE_STRAIGHT_THROUGH_LIMIT: (
        "the amount is above the straight-through threshold; a person must review it",
        "金额超过自动核赔限额，需人工审核",
    ),
    ReasonCode.STRAIGHT_THROUGH: (
        "approved automatically: covered, clean and within the threshold",
        "自动核赔通过：在保险责任内、无异常且未超过限额",
    ),
}


# ------------------------------------------------------------------ the other services' answers


def _non_negative(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidValue(name, f"{name} must be a non-negative integer number of fen")


@dataclass(frozen=True)
class CoverageFacts:
    """Policy's answer: is the loss covered, and how much is left to pay it from."""

    covered: bool
    reasons: tuple[str, ...]  # the policy service's stable codes, empty when covered
    remaining_fen: int  # of the sum insured this policy year
    per_claim_limit_fen: int
    deductible_fen: int
    policy_id: str | None
    # The policy's first and last covered days (Asia/Shanghai), for the rule checks.
    policy_start: date | None = None
    policy_end: date | None = None

    def __post_init__(self) -> None:
        _non_negative(self.remaining_fen, "remaining_fen")
        _non_negative(self.per_claim_limit_fen, "per_claim_limit_fen")
        _non_negative(self.deductible_fen, "deductible_fen")
        if not self.covered and not self.reasons:
            raise InvalidValue("reasons", "a loss that is not covered needs a reason")


@dataclass(frozen=True)
class LinePrice:
    """Pricing's answer for one line. No reference price: the line matched no known item."""

    line_no: int
    category: str | None  # the part it matched ("traction_machine"), None when unmatched
    reference_unit_price_fen: int | None  # the highest acceptable unit price
    reason_codes: tuple[str, ...] = ()  # pricing's own codes, passed on to the line

    def __post_init__(self) -> None:
        if self.reference_unit_price_fen is not None:
            _non_negative(self.reference_unit_price_fen, "reference_unit_price_fen")


@dataclass(frozen=True)
class RuleFinding:
    """Validation's answer: one rule that fired. ``line_no`` when it is about one line."""

    code: str
    severity: Severity
    message: str
    rule_set_version: str
    line_no: int | None = None

    def __post_init__(self) -> None:
        if self.severity not in ("error", "warning"):
            raise InvalidValue("severity", f"severity must be error or warning: {self.severity!r}")


@dataclass(frozen=True)
class EvidenceFlag:
    """Evidence's answer: a photo problem (reused from another claim, no EXIF, wrong place)."""

    code: str
    message: str


@dataclass(frozen=True)
class ContractorStanding:
    status: StandingStatus
    reason: str = ""

    def __post_init__(self) -> None:
        if self.status not in ("white", "grey", "black"):
            raise InvalidValue("status", f"status must be white, grey or black: {self.status!r}")


@dataclass(frozen=True)
class Provenance:
    """Which source answered a step and at which version ("pricing@fake", "prices-2025-06")."""

    source: str
    version: str


# ------------------------------------------------------------------ the recommendation


@dataclass(frozen=True)
class StepTrace:
    step: str  # coverage, pricing, validation, evidence, contractor, limits, routing
    source: str  # "policy", "pricing@fake", "claims"
    version: str
    verdict: str  # short: "covered", "1 of 3 lines trimmed"
    detail: str  # for people: the codes and figures behind the verdict


@dataclass(frozen=True)
class LineDecision:
    line_no: int
    submitted_fen: int
    approved_fen: int
    reason_codes: tuple[str, ...]
    # What pricing matched the line to, and the highest acceptable unit price: what a reviewer
    # compares the submitted price with. None when unmatched (or from a pre-2026-11 record).
    category: str | None = None
    reference_unit_price_fen: int | None = None


@dataclass(frozen=True)
class Recommendation:
    lines: tuple[LineDecision, ...]
    approved_total_fen: int
    reason_codes: tuple[str, ...]  # claim level
    straight_through: bool
    needs_person: bool
    trace: tuple[StepTrace, ...]
    # The most the policy can pay on this claim (the lower of the per-claim limit and the
    # remaining sum insured; 0 when not covered): a reviewer may raise trimmed lines, never
    # the total above this. None if unknown (a recommendation rebuilt from old data).
    max_payable_fen: int | None = field(default=None)

    @property
    def submitted_total_fen(self) -> int:
        return sum(line.submitted_fen for line in self.lines)

    @property
    def by_line_no(self) -> Mapping[int, LineDecision]:
        return {line.line_no: line for line in self.lines}


STEP_SOURCES = {
    "coverage": "policy",
    "pricing": "pricing",
    "validation": "validation",
    "evidence": "evidence",
    "contractor": "contractors",
}


def _append(codes: list[str], *more: str) -> None:
    for code in more:
        if code not in codes:
            codes.append(code)


def recommend(
    *,
    quote: Quote,
    coverage: CoverageFacts,
    prices: Sequence[LinePrice],
    findings: Sequence[RuleFinding],
    evidence: Sequence[EvidenceFlag],
    standing: ContractorStanding,
    straight_through_max_fen: int,
    white_list_straight_through_max_fen: int | None = None,
    provenance: Mapping[str, Provenance] | None = None,
) -> Recommendation:
    """The recommendation for one quote (see the module's docstring for the rules).

    ``prices`` has at most one entry per quote line (a missing one counts as unmatched);
    ``provenance`` names the source and version of each step's answer for the trace, keyed by
    step (``coverage``, ``pricing``, ``validation``, ``evidence``, ``contractor``).
    """
    _non_negative(straight_through_max_fen, "straight_through_max_fen")
    if white_list_straight_through_max_fen is not None:
        _non_negative(white_list_straight_through_max_fen, "white_list_straight_through_max_fen")
    lines_by_no = quote.by_line_no
    price_of: dict[int, LinePrice] = {}
    for price in prices:
        if price.line_no not in lines_by_no:
            raise InvalidValue("prices", f"a price for line {price.line_no}, not in the quote")
        if price.line_no in price_of:
            raise InvalidValue("prices", f"two prices for line {price.line_no}")
        price_of[price.line_no] = price
    for finding in findings:
        if finding.line_no is not None and finding.line_no not in lines_by_no:
            raise InvalidValue("findings", f"a finding on line {finding.line_no}, not in the quote")

    given = provenance or {}

    def step(name: str, verdict: str, detail: str, version: str = "") -> StepTrace:
        known = given.get(name)
        return StepTrace(
            step=name,
            source=known.source if known else STEP_SOURCES.get(name, "claims"),
            version=known.version if known and known.version else version,
            verdict=verdict,
            detail=detail,
        )

    trace: list[StepTrace] = []
    claim_codes: list[str] = []
    line_codes: dict[int, list[str]] = {line.line_no: [] for line in quote.lines}
    needs_person = False

    # 1. coverage
    if coverage.covered:
        trace.append(
            step(
                "coverage",
                "covered",
                f"policy {coverage.policy_id}; remaining {format_fen(coverage.remaining_fen)}, "
                f"per-claim limit {format_fen(coverage.per_claim_limit_fen)}, "
                f"deductible {format_fen(coverage.deductible_fen)}",
            )
        )
    else:
        needs_person = True
        _append(claim_codes, ReasonCode.NOT_COVERED, *coverage.reasons)
        trace.append(step("coverage", "not covered", ", ".join(coverage.reasons)))

    # 2. pricing
    priced: dict[int, int] = {}
    trimmed: list[str] = []
    unmatched: list[str] = []
    for line in quote.lines:
        line_price = price_of.get(line.line_no)
        codes = line_codes[line.line_no]
        if line_price is None or line_price.reference_unit_price_fen is None:
            priced[line.line_no] = line.amount_fen
            _append(codes, ReasonCode.UNMATCHED_ITEM)
            unmatched.append(str(line.line_no))
        elif line.unit_price_fen > line_price.reference_unit_price_fen:
            priced[line.line_no] = line_amount(line.quantity, line_price.reference_unit_price_fen)
            _append(codes, ReasonCode.PRICE_ABOVE_REFERENCE)
            trimmed.append(
                f"line {line.line_no}: {format_fen(line.unit_price_fen)} > "
                f"{format_fen(line_price.reference_unit_price_fen)} per {line.unit}"
            )
        else:
            priced[line.line_no] = line.amount_fen
        if line_price is not None:
            _append(codes, *line_price.reason_codes)
    if trimmed:
        _append(claim_codes, ReasonCode.PRICE_ABOVE_REFERENCE)
    if unmatched:
        needs_person = True
        _append(claim_codes, ReasonCode.UNMATCHED_ITEM)
    trace.append(
        step(
            "pricing",
            f"{len(trimmed)} trimmed, {len(unmatched)} unmatched of {len(quote.lines)} lines",
            "; ".join([*trimmed, *(f"line {n}: no reference price" for n in unmatched)])
            or "every line within its reference price",
        )
    )

    # 3. validation
    errors = [f for f in findings if f.severity == "error"]
    warnings = [f for f in findings if f.severity == "warning"]
    for finding in findings:
        if finding.line_no is not None:
            ours = (
                ReasonCode.VALIDATION_ERROR
                if finding.severity == "error"
                else ReasonCode.VALIDATION_WARNING
            )
            _append(line_codes[finding.line_no], ours, finding.code)
    if errors:
        needs_person = True
        _append(claim_codes, ReasonCode.VALIDATION_ERROR)
    if warnings:
        _append(claim_codes, ReasonCode.VALIDATION_WARNING)
    trace.append(
        step(
            "validation",
            f"{len(errors)} errors, {len(warnings)} warnings" if findings else "clean",
            "; ".join(
                f"{f.severity} {f.code}"
                + ("" if f.line_no is None else f" (line {f.line_no})")
                + f": {f.message}"
                for f in findings
            ),
            version=",".join(sorted({f.rule_set_version for f in findings})),
        )
    )

    # 4. evidence
    if evidence:
        needs_person = True
        _append(claim_codes, ReasonCode.EVIDENCE_FLAGGED)
    trace.append(
        step(
            "evidence",
            f"{len(evidence)} flags" if evidence else "clean",
            "; ".join(f"{flag.code}: {flag.message}" for flag in evidence),
        )
    )

    # 5. contractor
    if standing.status == "black":
        needs_person = True
        _append(claim_codes, ReasonCode.CONTRACTOR_BLACKLISTED)
    elif standing.status == "grey":
        _append(claim_codes, ReasonCode.CONTRACTOR_GREYLISTED)
    trace.append(step("contractor", standing.status, standing.reason))

    # 6. limits
    priced_total = sum(priced.values()) if coverage.covered else 0
    net = max(0, priced_total - coverage.deductible_fen)
    cap = min(coverage.per_claim_limit_fen, coverage.remaining_fen)
    max_payable = cap if coverage.covered else 0
    approved_total = min(net, cap)
    cuts: list[str] = []
    if coverage.covered and coverage.deductible_fen and priced_total:
        cuts.append(ReasonCode.DEDUCTIBLE_APPLIED)
    if net > cap:
        cuts.append(ReasonCode.LIMIT_CAPPED)
    _append(claim_codes, *cuts)
    if coverage.covered:
        numbers = [line.line_no for line in quote.lines]
        amounts = [priced[n] for n in numbers]
        if approved_total < priced_total:
            amounts = allocate(approved_total, amounts)
        approved = dict(zip(numbers, amounts, strict=True))
        for n in numbers:
            if approved[n] < priced[n]:
                _append(line_codes[n], *cuts)
    else:
        approved = dict.fromkeys(priced, 0)
        for codes in line_codes.values():
            codes[:] = [ReasonCode.NOT_COVERED, *coverage.reasons]
    trace.append(
        step(
            "limits",
            f"approved {format_fen(approved_total)} of {format_fen(priced_total)} priced",
            f"deductible {format_fen(coverage.deductible_fen)}, "
            f"per-claim limit {format_fen(coverage.per_claim_limit_fen)}, "
            f"remaining {format_fen(coverage.remaining_fen)}",
        )
    )
    if coverage.covered and approved_total == 0:
        needs_person = True
        _append(claim_codes, ReasonCode.NOTHING_PAYABLE)

    # 7. routing
    threshold = straight_through_max_fen
    if standing.status == "white" and white_list_straight_through_max_fen is not None:
        threshold = white_list_straight_through_max_fen
    straight_through = (
        coverage.covered
        and not needs_person
        and approved_total <= threshold
        and standing.status != "black"
    )
    if straight_through:
        _append(claim_codes, ReasonCode.STRAIGHT_THROUGH)
    elif not needs_person:
        _append(claim_codes, ReasonCode.ABOVE_STRAIGHT_THROUGH_LIMIT)
    trace.append(
        step(
            "routing",
            "straight through" if straight_through else "to a person",
            f"threshold {format_fen(threshold)} ({standing.status} contractor)",
        )
    )

    return Recommendation(
        lines=tuple(
            LineDecision(
                line_no=line.line_no,
                submitted_fen=line.amount_fen,
                approved_fen=approved[line.line_no],
                reason_codes=tuple(str(c) for c in line_codes[line.line_no]),
                category=price_of[line.line_no].category if line.line_no in price_of else None,
                reference_unit_price_fen=(
                    price_of[line.line_no].reference_unit_price_fen
                    if line.line_no in price_of
                    else None
                ),
            )
            for line in quote.lines
        ),
        approved_total_fen=approved_total,
        reason_codes=tuple(str(c) for c in claim_codes),
        straight_through=straight_through,
        needs_person=needs_person,
        trace=tuple(trace),
        max_payable_fen=max_payable,
    )
