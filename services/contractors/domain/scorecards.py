"""Monthly contractor scorecards: rates from job events, shrunk toward the regional mean.

**Metrics.** Each metric is a rate where higher is better, counted as ``successes`` out of
``trials`` (see ``Metric``). Two are derived from the history rather than stored on events:

- *first-time fix*: a repair is a repeat fault when the same elevator and part had a repair
  in the 30 days before it (an earlier repair that did not hold). It is counted in the month
  the fault comes back, so the scorecard of a closed month needs only events up to its last
  day and never changes afterwards (reproducible for any past period);
- *maintenance on schedule*: a visit is on schedule when the elevator's previous visit was at
  most 15 days earlier (the first visit seen is on schedule: nothing says otherwise).

Events after the period are ignored; events before it are read only for these look-backs.

**Fair scoring.** A contractor with three jobs is not judged like one with three thousand:
each rate is shrunk toward the regional mean by empirical Bayes (beta-binomial). For each
region and metric the prior Beta(mκ, (1-m)κ) has the pooled regional rate m and a strength
κ from the spread between contractors (method of moments, bounded by the weights file). The
posterior mean (mκ + k)/(κ + n) moves a contractor with few jobs most (shrinkage κ/(κ + n));
the 90 % credible interval (normal approximation of the Beta posterior) and n_effective = κ + n
show the confidence. A metric the contractor has no jobs for is the regional mean: unknown is
average, neither good nor bad.

**Composite and peers.** 100 × the weighted mean of the shrunk rates (published weights,
``scoring.toml``), ranked within the region: ties share a rank (1, 2, 2, 4) and a percentile
(share of the other peers scoring lower, ties counting half).

``compute_scorecards`` is the bulk numpy path; ``compute_scorecards_naive`` is a plain
per-contractor loop kept as the executable specification the bulk path is tested against.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import tomllib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from services.contractors.domain.events import (
    KIND_ORDER,
    EventColumns,
    EventKind,
    FloatArray,
    IntArray,
    JobEvent,
    to_columns,
)
from shared.domain_errors import InvalidInput, InvalidValue

_PACKAGE = "services.contractors.domain"
_FILE = "scoring.toml"

RESCUE_FAST_MINUTES = 15.0  # the scheme's best sites promise 15 minutes
RESCUE_RULE_MINUTES = 30.0  # TSG T5002: generally within 30 minutes
REPEAT_FAULT_DAYS = 30
MAINTENANCE_INTERVAL_DAYS = 15
_SCORE_SCALE = 1_000_000  # composite scores are compared at 1e-6 (ties are ties)


class Metric(StrEnum):
    RESCUE_WITHIN_15 = "rescue_within_15"  # rescues reached within 15 minutes
    RESCUE_WITHIN_30 = "rescue_within_30"  # rescues reached within 30 minutes
    REPAIR_WITHIN_24H = "repair_within_24h"  # repairs done within 24 hours
    FIRST_TIME_FIX = "first_time_fix"  # repairs that are not a repeat fault
    MAINTENANCE_ON_SCHEDULE = "maintenance_on_schedule"  # visits ≤ 15 days after the last
    QUOTE_UNTRIMMED = "quote_untrimmed"  # 1 - share of quote money trimmed, over quotes
    EVIDENCE_CLEAN = "evidence_clean"  # quotes without an evidence flag
    COMPLAINT_FREE = "complaint_free"  # jobs (rescue, repair, maintenance) without complaint
    INSPECTION_FIRST_PASS = "inspection_first_pass"  # noqa: S105 - passed the first time


METRICS: tuple[Metric, ...] = tuple(Metric)


class InvalidScoringWeights(InvalidInput):
    code = "INVALID_SCORING_WEIGHTS"


@dataclass(frozen=True, order=True)
class Period:
    """A calendar month, the scorecard period."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not (1 <= self.month <= 12 and 2000 <= self.year <= 2200):
            raise InvalidValue("period", f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Period:
        match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
        if match is None:
            raise InvalidValue("period", f"expected YYYY-MM, got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: dt.date) -> Period:
        return cls(day.year, day.month)

    @property
    def index(self) -> int:
        """Months since year 0: ``b.index - a.index`` is the months from a to b."""
        return self.year * 12 + self.month - 1

    @classmethod
    def from_index(cls, index: int) -> Period:
        return cls(index // 12, index % 12 + 1)

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, self.month, 1)

    @property
    def end(self) -> dt.date:
        return Period.from_index(self.index + 1).start - dt.timedelta(days=1)

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class ScoringWeights:
    version: str
    weights: Mapping[Metric, float]
    prior_strength_min: float
    prior_strength_max: float
    credible_z: float


def load_scoring_weights(text: str | None = None) -> ScoringWeights:
    """The weights from TOML ``text``; by default the file packaged with this module."""
    if text is None:
        text = resources.files(_PACKAGE).joinpath(_FILE).read_text(encoding="utf-8")
    try:
        doc: dict[str, Any] = tomllib.loads(text)
        raw = doc["weights"]
        unknown = set(raw) - {m.value for m in METRICS}
        if unknown:
            raise InvalidScoringWeights(f"unknown metrics {sorted(unknown)}", field="weights")
        weights = {m: float(raw[m.value]) for m in METRICS}
        lo, hi = float(doc["prior_strength_min"]), float(doc["prior_strength_max"])
        result = ScoringWeights(
            version=str(doc["version"]),
            weights=MappingProxyType(weights),
            prior_strength_min=lo,
            prior_strength_max=hi,
            credible_z=float(doc["credible_z"]),
        )
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, InvalidScoringWeights):
            raise
        raise InvalidScoringWeights(f"malformed scoring weights: {exc!r}") from exc
    if any(w < 0 for w in weights.values()) or sum(weights.values()) <= 0:
        raise InvalidScoringWeights("weights must be >= 0 and not all 0", field="weights")
    if not 0 < lo <= hi or result.credible_z <= 0:
        raise InvalidScoringWeights("need 0 < prior_strength_min <= max and credible_z > 0")
    return result


@dataclass(frozen=True)
class MetricScore:
    metric: Metric
    successes: float
    trials: float
    raw_rate: float | None  # None: no jobs of this kind in the period
    prior_mean: float | None  # the regional rate; None: the region has no data either
    shrunk_rate: float | None  # posterior mean; None only when the region has no data
    lower: float | None  # credible interval (credible_z of the weights)
    upper: float | None
    n_effective: float  # κ + n: how many jobs' worth of evidence the shrunk rate rests on
    shrinkage: float  # κ / (κ + n): how far toward the regional mean (1 = all the way)


@dataclass(frozen=True)
class Scorecard:
    contractor_id: str
    region: str
    period: Period
    weights_version: str
    events: int
    metrics: tuple[MetricScore, ...]
    composite: float  # 0–100
    rank: int  # 1 = best in the region; ties share a rank
    peers: int  # contractors scored in the region this period (including this one)
    percentile: float  # 0–100: share of the other peers scoring lower (ties count half)

    def metric(self, metric: Metric) -> MetricScore:
        return self.metrics[METRICS.index(metric)]


# --------------------------------------------------------------------------- shared maths


def prior_strength(
    mean: float, observed_var: float, sampling_var: float, weights: ScoringWeights
) -> float:
    """κ by the method of moments: between-contractor variance = m(1-m)/(κ+1).

    No measurable spread (all alike, or a rate of exactly 0 or 1) is the strongest prior
    allowed: the region gives no reason to believe contractors differ.
    """
    spread = mean * (1.0 - mean)
    between = observed_var - sampling_var
    if spread <= 0 or between <= 0:
        return weights.prior_strength_max
    return min(max(spread / between - 1.0, weights.prior_strength_min), weights.prior_strength_max)


def _score_key(composite: float) -> int:
    return round(composite * _SCORE_SCALE)


# --------------------------------------------------------------------------- bulk path


def _predecessor_gap(key: IntArray, day: IntArray) -> IntArray:
    """Days since the previous event with the same key (order: day, then position); -1: none."""
    n = key.shape[0]
    order = np.lexsort((np.arange(n), day, key))
    gap = np.full(n, -1, dtype=np.int64)
    if n > 1:
        ks, ds = key[order], day[order]
        same = ks[1:] == ks[:-1]
        gap[order[1:]] = np.where(same, ds[1:] - ds[:-1], -1)
    return gap


def compute_scorecards(
    columns: EventColumns, period: Period, weights: ScoringWeights
) -> tuple[Scorecard, ...]:
    """Scorecards of every (contractor, region) with an event in ``period``, in bulk.

    Sorted by region, then contractor. An empty period gives an empty tuple.
    """
    start, end = period.start.toordinal(), period.end.toordinal()
    kind = columns.kind
    code = {k: i for i, k in enumerate(KIND_ORDER)}
    known = columns.day <= end
    in_period = known & (columns.day >= start)
    if not in_period.any():
        return ()

    # Look-backs over all events up to the period's end.
    repeat = np.zeros(len(columns), dtype=bool)
    rep = np.flatnonzero(known & (kind == code[EventKind.REPAIR]))
    n_parts = int(columns.part.max()) + 1
    gap = _predecessor_gap(columns.elevator[rep] * n_parts + columns.part[rep], columns.day[rep])
    repeat[rep] = (gap >= 0) & (gap <= REPEAT_FAULT_DAYS)
    late = np.zeros(len(columns), dtype=bool)
    mnt = np.flatnonzero(known & (kind == code[EventKind.MAINTENANCE]))
    gap = _predecessor_gap(columns.elevator[mnt], columns.day[mnt])
    late[mnt] = gap > MAINTENANCE_INTERVAL_DAYS

    sel = np.flatnonzero(in_period)
    n_regions = len(columns.regions)
    group = columns.contractor[sel] * n_regions + columns.region[sel]
    pairs, inv = np.unique(group, return_inverse=True)
    n_pairs = pairs.shape[0]
    pair_region = pairs % n_regions
    k_sel = kind[sel]

    def count(mask: npt.NDArray[np.bool_]) -> FloatArray:
        return np.bincount(inv, weights=mask.astype(np.float64), minlength=n_pairs).astype(
            np.float64
        )

    def total(values: npt.NDArray[Any]) -> FloatArray:
        return np.bincount(inv, weights=values.astype(np.float64), minlength=n_pairs).astype(
            np.float64
        )

    is_rescue = k_sel == code[EventKind.RESCUE]
    is_repair = k_sel == code[EventKind.REPAIR]
    is_mnt = k_sel == code[EventKind.MAINTENANCE]
    is_quote = k_sel == code[EventKind.QUOTE]
    is_insp = k_sel == code[EventKind.INSPECTION]
    arrival = columns.arrival_minutes[sel]
    rescues, repairs, visits = count(is_rescue), count(is_repair), count(is_mnt)
    quotes, flags = count(is_quote), count(k_sel == code[EventKind.EVIDENCE_FLAG])
    complaints, inspections = count(k_sel == code[EventKind.COMPLAINT]), count(is_insp)
    quoted = total(np.where(is_quote, columns.quoted_fen[sel], 0))
    trimmed = total(np.where(is_quote, columns.trimmed_fen[sel], 0))
    untrimmed_share = np.ones(n_pairs)
    np.divide(quoted - trimmed, quoted, out=untrimmed_share, where=quoted > 0)
    evidence_trials = np.maximum(quotes, flags)
    jobs = rescues + repairs + visits
    complaint_trials = np.maximum(jobs, complaints)

    successes = np.stack(
        [
            count(is_rescue & (arrival <= RESCUE_FAST_MINUTES)),
            count(is_rescue & (arrival <= RESCUE_RULE_MINUTES)),
            count(is_repair & (columns.repaired_within_24h[sel] == 1)),
            count(is_repair & ~repeat[sel]),
            count(is_mnt & ~late[sel]),
            quotes * untrimmed_share,
            evidence_trials - flags,
            complaint_trials - complaints,
            count(is_insp & (columns.inspection_first_pass[sel] == 1)),
        ],
        axis=1,
    )
    trials = np.stack(
        [
            rescues,
            rescues,
            repairs,
            repairs,
            visits,
            quotes,
            evidence_trials,
            complaint_trials,
            inspections,
        ],
        axis=1,
    )

    # Regional priors, one column per metric.
    n_metrics = len(METRICS)
    has = trials > 0
    rate = np.divide(successes, trials, out=np.zeros_like(successes), where=has)
    shrunk = np.full((n_pairs, n_metrics), np.nan)
    prior_m = np.full((n_pairs, n_metrics), np.nan)
    kappa = np.zeros((n_pairs, n_metrics))
    for j in range(n_metrics):
        k_r = np.bincount(pair_region, weights=successes[:, j], minlength=n_regions)
        n_r = np.bincount(pair_region, weights=trials[:, j], minlength=n_regions)
        m_r = np.divide(k_r, n_r, out=np.full(n_regions, np.nan), where=n_r > 0)
        h = has[:, j]
        c_r = np.bincount(pair_region[h], minlength=n_regions).astype(np.float64)
        m_h = m_r[pair_region[h]]
        dev = (rate[h, j] - m_h) ** 2
        samp = m_h * (1.0 - m_h) / trials[h, j]
        obs_r = np.divide(
            np.bincount(pair_region[h], weights=dev, minlength=n_regions),
            c_r,
            out=np.zeros(n_regions),
            where=c_r > 0,
        )
        samp_r = np.divide(
            np.bincount(pair_region[h], weights=samp, minlength=n_regions),
            c_r,
            out=np.zeros(n_regions),
            where=c_r > 0,
        )
        kap_r = np.array(
            [
                prior_strength(float(m), float(o), float(s), weights)
                if n > 0
                else weights.prior_strength_max
                for m, o, s, n in zip(m_r, obs_r, samp_r, n_r, strict=True)
            ]
        )
        prior_m[:, j] = m_r[pair_region]
        kappa[:, j] = kap_r[pair_region]
    a = prior_m * kappa + successes
    b = (1.0 - prior_m) * kappa + trials - successes
    with np.errstate(invalid="ignore"):
        shrunk = a / (a + b)
        sd = np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1.0)))
    lower = np.clip(shrunk - weights.credible_z * sd, 0.0, 1.0)
    upper = np.clip(shrunk + weights.credible_z * sd, 0.0, 1.0)

    w = np.array([weights.weights[m] for m in METRICS])
    defined = ~np.isnan(shrunk)
    w_used = np.where(defined, w, 0.0)
    w_sum = w_used.sum(axis=1)
    composite = 100.0 * np.where(defined, shrunk, 0.0) @ w / np.where(w_sum > 0, w_sum, 1.0)

    # Peers: rank and percentile within the region on scores at 1e-6.
    key = np.rint(composite * _SCORE_SCALE).astype(np.int64)
    stride = 101 * _SCORE_SCALE + 1
    combined = pair_region * stride + key
    ordered = np.sort(combined)
    base = pair_region * stride
    region_lo = np.searchsorted(ordered, base, side="left")
    below = np.searchsorted(ordered, combined, side="left") - region_lo
    upto = np.searchsorted(ordered, combined, side="right") - region_lo
    peers = np.bincount(pair_region, minlength=n_regions)[pair_region]
    rank = peers - upto + 1
    others = peers - 1
    percentile = np.where(
        others > 0, 100.0 * (below + 0.5 * (upto - below - 1)) / np.maximum(others, 1), 100.0
    )
    events_n = np.bincount(inv, minlength=n_pairs)

    def opt(x: float) -> float | None:
        return None if math.isnan(x) else float(x)

    cards = []
    for p in range(n_pairs):
        metrics = tuple(
            MetricScore(
                metric=m,
                successes=float(successes[p, j]),
                trials=float(trials[p, j]),
                raw_rate=float(rate[p, j]) if has[p, j] else None,
                prior_mean=opt(prior_m[p, j]),
                shrunk_rate=opt(shrunk[p, j]),
                lower=opt(lower[p, j]),
                upper=opt(upper[p, j]),
                n_effective=float(kappa[p, j] + trials[p, j]),
                shrinkage=float(kappa[p, j] / (kappa[p, j] + trials[p, j]))
                if kappa[p, j] + trials[p, j] > 0
                else 1.0,
            )
            for j, m in enumerate(METRICS)
        )
        cards.append(
            Scorecard(
                contractor_id=columns.contractors[int(pairs[p]) // n_regions],
                region=columns.regions[int(pair_region[p])],
                period=period,
                weights_version=weights.version,
                events=int(events_n[p]),
                metrics=metrics,
                composite=float(composite[p]),
                rank=int(rank[p]),
                peers=int(peers[p]),
                percentile=float(percentile[p]),
            )
        )
    cards.sort(key=lambda c: (c.region, c.contractor_id))
    return tuple(cards)


def compute_scorecards_from_events(
    events: Sequence[JobEvent], period: Period, weights: ScoringWeights
) -> tuple[Scorecard, ...]:
    """``compute_scorecards`` over event records (converted to columns first)."""
    if not events:
        return ()
    return compute_scorecards(to_columns(events), period, weights)


# --------------------------------------------------------------------------- naive path


def compute_scorecards_naive(
    events: Sequence[JobEvent], period: Period, weights: ScoringWeights
) -> tuple[Scorecard, ...]:
    """The same scorecards by a plain loop per contractor: the specification, not for bulk."""
    start, end = period.start, period.end
    known = [(i, e) for i, e in enumerate(events) if e.occurred_on <= end]

    def has_earlier(i: int, e: JobEvent, same: list[tuple[int, JobEvent]], days: int) -> bool:
        for j, f in same:
            earlier = (f.occurred_on, j) < (e.occurred_on, i)
            if earlier and (e.occurred_on - f.occurred_on).days <= days:
                return True
        return False

    by_part: dict[tuple[str, str], list[tuple[int, JobEvent]]] = defaultdict(list)
    by_elevator: dict[str, list[tuple[int, JobEvent]]] = defaultdict(list)
    for i, e in known:
        if e.kind is EventKind.REPAIR:
            by_part[(e.elevator_id, e.part)].append((i, e))
        elif e.kind is EventKind.MAINTENANCE:
            by_elevator[e.elevator_id].append((i, e))

    groups: dict[tuple[str, str], list[tuple[int, JobEvent]]] = defaultdict(list)
    for i, e in known:
        if e.occurred_on >= start:
            groups[(e.contractor_id, e.region)].append((i, e))

    counts: dict[tuple[str, str], dict[Metric, tuple[float, float]]] = {}
    for g, evs in groups.items():
        of = {k: [(i, e) for i, e in evs if e.kind is k] for k in EventKind}
        rescues = [e.arrival_minutes for _, e in of[EventKind.RESCUE]]
        repairs = of[EventKind.REPAIR]
        visits = of[EventKind.MAINTENANCE]
        quotes = [e for _, e in of[EventKind.QUOTE]]
        quoted = sum(e.quoted_fen or 0 for e in quotes)
        trimmed = sum(e.trimmed_fen or 0 for e in quotes)
        share = (quoted - trimmed) / quoted if quoted > 0 else 1.0
        flags, complaints = len(of[EventKind.EVIDENCE_FLAG]), len(of[EventKind.COMPLAINT])
        jobs = len(rescues) + len(repairs) + len(visits)
        inspections = [e.inspection_first_pass for _, e in of[EventKind.INSPECTION]]
        counts[g] = {
            Metric.RESCUE_WITHIN_15: (
                sum(1 for a in rescues if a is not None and a <= RESCUE_FAST_MINUTES),
                len(rescues),
            ),
            Metric.RESCUE_WITHIN_30: (
                sum(1 for a in rescues if a is not None and a <= RESCUE_RULE_MINUTES),
                len(rescues),
            ),
            Metric.REPAIR_WITHIN_24H: (
                sum(1 for _, e in repairs if e.repaired_within_24h),
                len(repairs),
            ),
            Metric.FIRST_TIME_FIX: (
                sum(
                    1
                    for i, e in repairs
                    if not has_earlier(i, e, by_part[(e.elevator_id, e.part)], REPEAT_FAULT_DAYS)
                ),
                len(repairs),
            ),
            Metric.MAINTENANCE_ON_SCHEDULE: (
                sum(1 for i, e in visits if _on_schedule(i, e, by_elevator[e.elevator_id])),
                len(visits),
            ),
            Metric.QUOTE_UNTRIMMED: (len(quotes) * share, len(quotes)),
            Metric.EVIDENCE_CLEAN: (max(len(quotes), flags) - flags, max(len(quotes), flags)),
            Metric.COMPLAINT_FREE: (max(jobs, complaints) - complaints, max(jobs, complaints)),
            Metric.INSPECTION_FIRST_PASS: (sum(1 for p in inspections if p), len(inspections)),
        }

    priors: dict[tuple[str, Metric], tuple[float, float]] = {}
    regions = sorted({r for _, r in groups})
    for region in regions:
        members = [c for g, c in counts.items() if g[1] == region]
        for m in METRICS:
            k_r = sum(c[m][0] for c in members)
            n_r = sum(c[m][1] for c in members)
            if n_r <= 0:
                continue
            mean = k_r / n_r
            rated = [c[m] for c in members if c[m][1] > 0]
            obs = sum((k / n - mean) ** 2 for k, n in rated) / len(rated)
            samp = sum(mean * (1 - mean) / n for _, n in rated) / len(rated)
            priors[(region, m)] = (mean, prior_strength(mean, obs, samp, weights))

    partial: list[tuple[tuple[str, str], tuple[MetricScore, ...], float]] = []
    for g, c in counts.items():
        metric_scores: list[MetricScore] = []
        num = den = 0.0
        for m in METRICS:
            k, n = c[m]
            prior = priors.get((g[1], m))
            if prior is None:
                kap = weights.prior_strength_max
                metric_scores.append(
                    MetricScore(
                        m,
                        k,
                        n,
                        k / n if n else None,
                        None,
                        None,
                        None,
                        None,
                        kap + n,
                        kap / (kap + n),
                    )
                )
                continue
            mean, kap = prior
            a, b = mean * kap + k, (1 - mean) * kap + n - k
            post = a / (a + b)
            sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
            z = weights.credible_z
            metric_scores.append(
                MetricScore(
                    m,
                    k,
                    n,
                    k / n if n else None,
                    mean,
                    post,
                    min(max(post - z * sd, 0.0), 1.0),
                    min(max(post + z * sd, 0.0), 1.0),
                    kap + n,
                    kap / (kap + n),
                )
            )
            num += weights.weights[m] * post
            den += weights.weights[m]
        partial.append((g, tuple(metric_scores), 100.0 * num / den if den > 0 else 0.0))

    cards = []
    for g, scores, composite in partial:
        key = _score_key(composite)
        region_keys = [_score_key(s) for h, _, s in partial if h[1] == g[1]]
        below = sum(1 for x in region_keys if x < key)
        equal = sum(1 for x in region_keys if x == key)
        higher = len(region_keys) - below - equal
        others = len(region_keys) - 1
        cards.append(
            Scorecard(
                contractor_id=g[0],
                region=g[1],
                period=period,
                weights_version=weights.version,
                events=len(groups[g]),
                metrics=scores,
                composite=composite,
                rank=higher + 1,
                peers=len(region_keys),
                percentile=100.0 * (below + 0.5 * (equal - 1)) / others if others else 100.0,
            )
        )
    cards.sort(key=lambda c: (c.region, c.contractor_id))
    return tuple(cards)


def _on_schedule(i: int, e: JobEvent, same: list[tuple[int, JobEvent]]) -> bool:
    """True when the visit just before ``e`` (by day, then position) is at most 15 days
    earlier, or there is none."""
    earlier = [(f.occurred_on, j) for j, f in same if (f.occurred_on, j) < (e.occurred_on, i)]
    if not earlier:
        return True
    return (e.occurred_on - max(earlier)[0]).days <= MAINTENANCE_INTERVAL_DAYS
