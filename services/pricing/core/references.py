"""Reference prices: what a part should cost in a region on a date, robust to bad data.

A :class:`ReferenceBook` is built once from price observations (supplier lists, settled
claims) and answers :meth:`ReferenceBook.reference` for a category, region, date and,
optionally, brand and spec. The answer is a median and a tolerated band, never a single
supplier's figure. How:

**Effective dating.** Only observations dated *strictly before* the quote date count (and
none older than ``window_days``, three years by default). A quote is judged with what the
insurer knew the day before it was written: a claim settled on the same day, perhaps the
very quote under review, cannot vouch for itself. The same quote judged twice gets the same
answer, whatever was imported since, as long as nothing dated before it was added.

**Drift (price index).** Prices move (steel, copper, wages). Each observation is carried to
the quote date with a per-category exponential index: within each *cell* (same category,
brand, spec and city) the log price is compared with the cell's median, and the slope of
that residual against the observation's distance in time from the cell's mean date is fitted
by least squares, after dropping residuals more than ``max(4σ, ln 2)`` away (so a ×10 typo
does not tilt it). This is a fixed-effects trend: it measures how the same kind of part got
dearer, not whether the mix of brands changed. A category with too little data (fewer than
20 points in cells of 3+, or under 180 days of span) uses the index pooled over every
category. A slope is shrunk towards 0 by ``1 − (SE/slope)²`` (noise in 20 prices can look
like a trend; a real one of many standard errors is kept) and clamped to −20 %…+30 % a year.

**Brand, spec and city effects.** Within a category, a Mitsubishi inverter costs more than
a generic one, an 11 kW one more than a 7.5 kW one, and Tianjin more than Xiangtan. Few
observations share all three, so they are not priced cell by cell; instead the model
``ln price = level + brand + spec + city + noise`` (after the index) is fitted by median
backfitting (each factor's effect is the median of what the others leave; four rounds; a
brand, spec or city with fewer than 3 observations gets no effect). A reference for brand b
and spec s then uses *every* observation of the pool, each carried to b and s by the
difference of effects: the data of all brands inform a Mitsubishi reference, and the
Mitsubishi premium is measured on all specs. A brand or spec that is not given (None), or
has no effect estimated, is not adjusted for: the pool's own mix is the reference ("any
brand"); ``basis`` says which adjustments were made (``brand_spec``, ``spec``, ``brand``,
``category``). The index and the effects are refitted once a month, from observations before
the first day of the quote's month (so before the quote date too).

**Region fallback.** The pool is the city (the prefecture of a 6-digit GB/T 2260 code; a
municipality as a whole), else the province (first two digits), else the nation, the first
with at least ``min_n`` observations once outliers are excluded; observations from other
cities are carried to the quote's city by the city effects (when it has one). Nothing with
enough data → ``None``: the rule says ``NO_REFERENCE_PRICE``.

**Robust level and band.** Over the pool's carried log prices the median is the reference
and the spread is σ = 1.4826 × MAD (a standard deviation for normal noise, unmoved by
outliers). Observations further than ``max(4σ, ln 2)`` from the median are excluded (one
supplier's ×10 typo, a price keyed in yuan instead of fen) and the median and σ recomputed
on the rest. The tolerated band is ``median × exp(±k·σ')`` with k = 2.5, σ' the larger of
the pool's σ and the model's residual σ (small pools understate spread), widened by
``sqrt(1 + π/2n)`` for the uncertainty of a median of n, and at least +10 % above the median
(identical list prices have σ = 0).

**Units.** A category's reference is per one *reference unit*. Unit names are folded to a
canonical form (米/m/公尺 → 米, 个/只/件/块/pcs → 个, 台/部 → 台, 套/组/副 → 套, 根/条 → 根,
樘/扇 → 樘, 工时/小时/h → 工时, 次/项/人次 → 项) and 工日/人天 converts to 8 工时 (the one
trivial conversion). Each unit has a dimension: length, count, time or lump sum. The units a
category accepts come from the catalogue (``units=``): its first unit is the reference unit,
and the listed units *of the same dimension* are accepted as the same thing counted alike
(a traction machine's 台 and 套); listed units of another dimension are not (wire rope's 米,
根 and 卷). 台 and 套 are one complete unit of equipment, so where one is accepted the other
is too (an inverter quoted per 套). Without a catalogue, a category accepts the unit most
of its observations use. Observations in a unit not accepted are skipped, never converted
by guesswork.
"""

from __future__ import annotations

import math
import unicodedata
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from enum import StrEnum

MIN_N = 5
K_SIGMA = 2.5
MIN_TOLERANCE = 0.10  # the band's top is at least 10 % above the median
WINDOW_DAYS = 3 * 365
_MAD_TO_SIGMA = 1.4826
_OUTLIER_SIGMAS = 4.0
_OUTLIER_FLOOR = math.log(2.0)
_INDEX_MIN_POINTS = 20
_INDEX_MIN_SPAN_DAYS = 180
_INDEX_CLAMP = (math.log(0.80) / 365.25, math.log(1.30) / 365.25)  # per day
_WHOLE_UNITS = frozenset({"台", "套"})  # a complete piece of equipment, however it is counted
_MUNICIPALITIES = frozenset({"11", "12", "31", "50"})
NATIONAL = "000000"


class Basis(StrEnum):
    """Which observations the reference is built from (the segment)."""

    BRAND_SPEC = "brand_spec"  # same brand and same spec (φ10, 7.5kW …)
    SPEC = "spec"  # same spec, any brand
    BRAND = "brand"  # same brand, any spec
    CATEGORY = "category"  # the whole category


class Level(StrEnum):
    """How wide a region the observations come from."""

    CITY = "city"
    PROVINCE = "province"
    NATIONAL = "national"


@dataclass(frozen=True)
class Observation:
    """One observed unit price. ``spec`` is an optional canonical spec key ("φ10", "7.5kW")
    made by the caller with the same function it uses for quote lines."""

    category: str
    brand: str | None
    region: str
    observed_on: date
    unit_price_fen: int
    unit: str
    source: str
    spec: str | None = None


@dataclass(frozen=True)
class Reference:
    category: str
    region: str  # the pool's region: a city or province code, or "000000" for the nation
    on: date  # the quote date it is in force for (observations strictly before it)
    median_fen: int  # per reference unit, carried to ``on`` by the index
    low_fen: int
    high_fen: int  # the tolerated band's top: a price above it is trimmed to it
    n: int  # observations used (after outliers were excluded)
    basis: Basis
    level: Level
    version: str
    unit: str  # the reference unit (米, 台 …)
    excluded: int = 0  # outliers left out
    index_per_year: float = 0.0  # the drift applied, e.g. 0.04 = +4 % a year
    brand: str | None = None  # the brand key when the basis is brand-specific
    spec: str | None = None  # the spec key when the basis is spec-specific


# ------------------------------------------------------------------ units

_UNIT_SYNONYMS: dict[str, tuple[str, int, str]] = {}
for _canonical, _factor, _dimension, _names in (
    ("米", 1, "length", "米 m 公尺 meter metre meters metres mtr"),
    ("个", 1, "count", "个 只 件 块 片 pcs pc piece pieces ea"),
    ("台", 1, "count", "台 部"),
    ("套", 1, "count", "套 组 副 set sets"),
    ("根", 1, "count", "根 条"),
    ("樘", 1, "count", "樘 扇"),
    ("对", 1, "count", "对 pair"),
    ("把", 1, "count", "把"),
    ("卷", 1, "count", "卷 盘 轴"),
    ("工时", 1, "time", "工时 小时 h hr hrs hour hours 人工时 人时 时 工时/人"),
    ("工时", 8, "time", "工日 人工日 人天 人日 天 日 day days"),
    ("项", 1, "lump", "项 次 人次 批"),
):
    for _name in _names.split():
        _UNIT_SYNONYMS[_name] = (_canonical, _factor, _dimension)


def _fold_unit(unit: str) -> str:
    text = unicodedata.normalize("NFKC", unit).strip().casefold().replace(" ", "")
    for prefix in ("元/", "/", "每"):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def canonical_unit(unit: str) -> tuple[str, Decimal]:
    """(canonical unit, how many canonical units one ``unit`` is). "元/米" → ("米", 1),
    "工日" → ("工时", 8). An unknown unit is its own canonical form, factor 1."""
    text = _fold_unit(unit)
    canonical, factor, _ = _UNIT_SYNONYMS.get(text, (text, 1, text))
    return canonical, Decimal(factor)


def unit_dimension(unit: str) -> str:
    """ "length", "count", "time" or "lump"; an unknown unit is a dimension of its own."""
    text = _fold_unit(unit)
    return _UNIT_SYNONYMS.get(text, (text, 1, text))[2]


def brand_key(brand: str | None) -> str | None:
    """Brands compare after NFKC, case folding and without spaces; callers that can should
    pass a canonical brand (the matcher's spec extraction) for both sides."""
    if brand is None:
        return None
    text = unicodedata.normalize("NFKC", brand).casefold()
    text = "".join(text.split())
    return text or None


# ------------------------------------------------------------------ regions


def region_pools(region: str) -> tuple[str | None, str | None]:
    """(city code, province code) for a 6-digit GB/T 2260 code; None where it has none.

    A district or county-level city belongs to its prefecture ("430281" → "430200"); a
    municipality (Beijing, Tianjin, Shanghai, Chongqing) is one city ("120104" → "120000");
    a province-level code has no city. Anything but six digits has neither.
    """
    if len(region) != 6 or not region.isascii() or not region.isdigit():
        return None, None
    province = region[:2] + "0000"
    if region[:2] in _MUNICIPALITIES:
        return province, province
    if region[2:4] == "00":
        return None, province
    return region[:4] + "00", province


# ------------------------------------------------------------------ statistics


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    count = len(ordered)
    if not count:
        raise ValueError("median of nothing")
    middle = count // 2
    if count % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def robust_sigma(values: Sequence[float], centre: float) -> float:
    """1.4826 × the median absolute deviation from ``centre``."""
    return _MAD_TO_SIGMA * median([abs(v - centre) for v in values])


_FACTORS = ("brand", "spec", "region")
_CACHE_LIMIT = 100_000  # answers kept; the models (category × month) are few and all kept
_MIN_GROUP = 3  # observations a brand, spec or city needs before its price effect is estimated
_BACKFIT_ROUNDS = 4


@dataclass(frozen=True)
class _Point:
    day: int  # date ordinal
    log_price: float  # per reference unit
    brand: str | None
    spec: str | None
    region: str | None  # the city (or, for a province-level code, the province) for effects
    city: str | None
    province: str | None

    def key(self, factor: str) -> str | None:
        if factor == "brand":
            return self.brand
        if factor == "spec":
            return self.spec
        return self.region


@dataclass
class _CategoryData:
    unit: str
    points: list[_Point] = field(default_factory=list)
    days: list[int] = field(default_factory=list)
    # (level, region code) → indices into ``points``, ascending by day
    pools: dict[tuple[Level, str], list[int]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Index:
    slope_per_day: float
    within_sigma: float


@dataclass(frozen=True)
class _Model:
    """A category's prices as of one month: drift, and the price effect of each brand, spec
    and city that has enough observations (log scale, relative to each other)."""

    slope_per_day: float
    sigma: float  # the residual spread once drift and effects are accounted for
    effects: Mapping[str, Mapping[str | None, float]]


class ReferenceBook:
    """Every category's observations, indexed for effective-dated reference queries."""

    def __init__(
        self,
        *,
        version: str,
        data: Mapping[str, _CategoryData],
        accepted_units: Mapping[str, frozenset[str]],
        skipped: int,
        min_n: int,
        window_days: int,
    ) -> None:
        self.version = version
        self._data = data
        self._accepted = accepted_units
        self.skipped = skipped  # observations left out: a unit not accepted, a price ≤ 0
        self.min_n = min_n
        self.window_days = window_days
        self._index_cache: dict[tuple[str | None, int], _Index | None] = {}
        self._model_cache: dict[tuple[str, int], _Model] = {}
        self._reference_cache: dict[tuple[object, ...], Reference | None] = {}

    @classmethod
    def build(
        cls,
        observations: Iterable[Observation],
        *,
        version: str,
        units: Mapping[str, Sequence[str]] | None = None,
        min_n: int = MIN_N,
        window_days: int = WINDOW_DAYS,
    ) -> ReferenceBook:
        """Index ``observations``. ``units`` maps a category to the units it is priced in
        (the catalogue's, reference unit first); without it, each category's most common
        unit is its reference unit."""
        if min_n < 1:
            raise ValueError("min_n must be at least 1")
        observations = list(observations)
        accepted, display = _accepted_units(observations, units)
        by_category: dict[str, list[_Point]] = defaultdict(list)
        skipped = 0
        for obs in observations:
            canonical, factor = canonical_unit(obs.unit)
            if obs.unit_price_fen <= 0 or canonical not in accepted.get(obs.category, ()):
                skipped += 1
                continue
            city, province = region_pools(obs.region)
            by_category[obs.category].append(
                _Point(
                    day=obs.observed_on.toordinal(),
                    log_price=math.log(obs.unit_price_fen / float(factor)),
                    brand=brand_key(obs.brand),
                    spec=obs.spec or None,
                    region=city or province,
                    city=city,
                    province=province,
                )
            )
        data: dict[str, _CategoryData] = {}
        for category, points in by_category.items():
            points.sort(key=lambda p: p.day)
            entry = _CategoryData(unit=display[category], points=points)
            entry.days = [p.day for p in points]
            for i, point in enumerate(points):
                if point.city:
                    entry.pools.setdefault((Level.CITY, point.city), []).append(i)
                if point.province:
                    entry.pools.setdefault((Level.PROVINCE, point.province), []).append(i)
                entry.pools.setdefault((Level.NATIONAL, NATIONAL), []).append(i)
            data[category] = entry
        return cls(
            version=version,
            data=data,
            accepted_units=accepted,
            skipped=skipped,
            min_n=min_n,
            window_days=window_days,
        )

    # -------------------------------------------------------------- queries

    def categories(self) -> frozenset[str]:
        return frozenset(self._data)

    def unit(self, category: str) -> str | None:
        """The reference unit of ``category``, None when it has no observations."""
        entry = self._data.get(category)
        return None if entry is None else entry.unit

    def unit_factor(self, category: str, unit: str) -> Decimal | None:
        """How many reference units one ``unit`` is (1 for a synonym, 8 for 工日 against
        工时); None when ``unit`` cannot be compared with this category's references."""
        canonical, factor = canonical_unit(unit)
        if category in self._accepted and canonical in self._accepted[category]:
            return factor
        return None

    def reference(
        self,
        *,
        category: str,
        region: str,
        on: date,
        brand: str | None = None,
        spec: str | None = None,
    ) -> Reference | None:
        """The reference in force on ``on`` (observations strictly before it) for a part of
        ``brand`` and ``spec`` (None: any) in ``region``; None when too few observations."""
        key = (category, region, on, brand_key(brand), spec or None)
        if key not in self._reference_cache:
            if len(self._reference_cache) >= _CACHE_LIMIT:  # a long-running service
                self._reference_cache.clear()
            self._reference_cache[key] = self._reference(
                category, region, on, brand_key(brand), spec or None
            )
        return self._reference_cache[key]

    def _reference(
        self, category: str, region: str, on: date, brand: str | None, spec: str | None
    ) -> Reference | None:
        entry = self._data.get(category)
        if entry is None:
            return None
        end = on.toordinal()
        start = end - self.window_days
        if bisect_left(entry.days, end) - bisect_left(entry.days, start) < self.min_n:
            return None
        model = self._model(category, entry, on)
        city, province = region_pools(region)
        wanted = {"brand": brand, "spec": spec, "region": city or province}
        # A factor is adjusted for when the wanted brand / spec / city has an estimated effect;
        # otherwise observations keep theirs (a mix: "any brand").
        adjust = {f: wanted[f] is not None and wanted[f] in model.effects[f] for f in _FACTORS}
        for level, pool_region in (
            (Level.CITY, city),
            (Level.PROVINCE, province),
            (Level.NATIONAL, NATIONAL),
        ):
            if pool_region is None:
                continue
            indices = entry.pools.get((level, pool_region), [])
            factors = [f for f in _FACTORS if adjust[f] and (f != "region" or level != Level.CITY)]
            values = _adjusted(entry, indices, start, end, model, factors, wanted)
            if len(values) < self.min_n:
                continue
            found = self._summarise(values, model, entry.unit, category, on, level, pool_region)
            if found is None:
                continue
            basis = {
                (True, True): Basis.BRAND_SPEC,
                (False, True): Basis.SPEC,
                (True, False): Basis.BRAND,
                (False, False): Basis.CATEGORY,
            }[adjust["brand"], adjust["spec"]]
            return replace(
                found,
                basis=basis,
                brand=brand if adjust["brand"] else None,
                spec=spec if adjust["spec"] else None,
            )
        return None

    def _summarise(
        self,
        values: Sequence[float],
        model: _Model,
        unit: str,
        category: str,
        on: date,
        level: Level,
        pool_region: str,
    ) -> Reference | None:
        centre = median(values)
        sigma = robust_sigma(values, centre)
        limit = max(_OUTLIER_SIGMAS * max(sigma, model.sigma), _OUTLIER_FLOOR)
        kept = [v for v in values if abs(v - centre) <= limit]
        if len(kept) < self.min_n:
            return None
        centre = median(kept)
        sigma = max(robust_sigma(kept, centre), model.sigma)
        width = K_SIGMA * sigma * math.sqrt(1 + math.pi / (2 * len(kept)))
        upper = max(width, math.log1p(MIN_TOLERANCE))
        return Reference(
            category=category,
            region=pool_region,
            on=on,
            median_fen=round(math.exp(centre)),
            low_fen=round(math.exp(centre - width)),
            high_fen=round(math.exp(centre + upper)),
            n=len(kept),
            basis=Basis.CATEGORY,
            level=level,
            version=self.version,
            unit=unit,
            excluded=len(values) - len(kept),
            index_per_year=math.exp(model.slope_per_day * 365.25) - 1,
        )

    # -------------------------------------------------------------- the price model

    def price_index(self, category: str, on: date) -> float:
        """The yearly drift used for ``category`` on ``on`` (0.04 = +4 % a year)."""
        entry = self._data.get(category)
        if entry is None:
            return 0.0
        return math.exp(self._model(category, entry, on).slope_per_day * 365.25) - 1

    def _model(self, category: str, entry: _CategoryData, on: date) -> _Model:
        """Fitted once a month, from observations before the first day of ``on``'s month
        (so before ``on`` too): drift, then the effects of brand, spec and city."""
        month = on.replace(day=1).toordinal()
        key = (category, month)
        if key not in self._model_cache:
            lo = bisect_left(entry.days, month - self.window_days)
            hi = bisect_left(entry.days, month)
            window = entry.points[lo:hi]
            index = self._index(category, month, window)
            self._model_cache[key] = _fit_effects(window, month, index)
        return self._model_cache[key]

    def _index(self, category: str, month: int, window: Sequence[_Point]) -> _Index:
        own = self._cached_fit(category, month, lambda: _fit_index([window]))
        if own is not None:
            return own
        pooled = self._cached_fit(None, month, lambda: self._pooled_fit(month))
        return _Index(0.0 if pooled is None else pooled.slope_per_day, own_sigma(window))

    def _cached_fit(
        self, category: str | None, month: int, fit: Callable[[], _Index | None]
    ) -> _Index | None:
        key = (category, month)
        if key not in self._index_cache:
            self._index_cache[key] = fit()
        return self._index_cache[key]

    def _pooled_fit(self, month: int) -> _Index | None:
        groups = []
        for entry in self._data.values():
            lo = bisect_left(entry.days, month - self.window_days)
            hi = bisect_left(entry.days, month)
            groups.append(entry.points[lo:hi])
        return _fit_index(groups)


def _adjusted(
    entry: _CategoryData,
    indices: Sequence[int],
    start: int,
    end: int,
    model: _Model,
    factors: Sequence[str],
    wanted: Mapping[str, str | None],
) -> list[float]:
    """Log prices of the pool's observations in [start, end), carried to ``end`` by the
    index and to the wanted brand, spec and city by their effects. An observation whose own
    brand, spec or city has no estimated effect cannot be carried over and is left out."""
    days = [entry.points[i].day for i in indices]
    values = []
    for i in indices[bisect_left(days, start) : bisect_left(days, end)]:
        point = entry.points[i]
        value = point.log_price + model.slope_per_day * (end - point.day)
        for factor in factors:
            effects = model.effects[factor]
            own = point.key(factor)
            if own not in effects:
                break
            value += effects[wanted[factor]] - effects[own]
        else:
            values.append(value)
    return values


def _fit_effects(window: Sequence[_Point], month: int, index: _Index) -> _Model:
    """Median backfitting of ``log price = level + brand + spec + city + noise`` (after the
    drift): each factor's effect is the median, over its observations, of what the level and
    the other factors leave; four rounds. Groups under ``_MIN_GROUP`` get no effect."""
    slope = index.slope_per_day
    y = [p.log_price + slope * (month - p.day) for p in window]
    groups: dict[str, dict[str | None, list[int]]] = {f: defaultdict(list) for f in _FACTORS}
    for i, point in enumerate(window):
        for factor in _FACTORS:
            groups[factor][point.key(factor)].append(i)
    known = {
        f: {k: ids for k, ids in groups[f].items() if len(ids) >= _MIN_GROUP} for f in _FACTORS
    }
    effects: dict[str, dict[str | None, float]] = {
        f: dict.fromkeys(known[f], 0.0) for f in _FACTORS
    }
    if not y:
        return _Model(slope, index.within_sigma, effects)

    def effect(factor: str, i: int) -> float:
        return effects[factor].get(window[i].key(factor), 0.0)

    level = median(y)
    for _ in range(_BACKFIT_ROUNDS):
        for factor in _FACTORS:
            others = [f for f in _FACTORS if f != factor]
            for key, ids in known[factor].items():
                effects[factor][key] = median(
                    [y[i] - level - sum(effect(f, i) for f in others) for i in ids]
                )
        level = median([y[i] - sum(effect(f, i) for f in _FACTORS) for i in range(len(y))])
    residuals = [y[i] - level - sum(effect(f, i) for f in _FACTORS) for i in range(len(y))]
    centre = median(residuals)
    limit = max(_OUTLIER_SIGMAS * robust_sigma(residuals, centre), _OUTLIER_FLOOR)
    residuals = [r for r in residuals if abs(r - centre) <= limit]  # typos say nothing of σ
    # One level, and one effect per group beyond the first of each factor.
    parameters = 1 + sum(max(len(known[f]) - 1, 0) for f in _FACTORS)
    sigma = robust_sigma(residuals, median(residuals))
    if len(residuals) > parameters:
        sigma *= math.sqrt(len(residuals) / (len(residuals) - parameters))
    return _Model(slope, max(sigma, index.within_sigma), effects)


def _accepted_units(
    observations: Sequence[Observation], units: Mapping[str, Sequence[str]] | None
) -> tuple[dict[str, frozenset[str]], dict[str, str]]:
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for obs in observations:
        counts[obs.category][canonical_unit(obs.unit)[0]] += 1
    accepted: dict[str, frozenset[str]] = {}
    display: dict[str, str] = {}
    for category in set(counts) | set(units or ()):
        listed = list((units or {}).get(category, ()))
        if listed:
            # The catalogue's units, the usual one first: those of the same dimension are one
            # thing counted alike (台 and 套 of a traction machine); the others are not (米,
            # 根 and 卷 of wire rope).
            dimension = unit_dimension(listed[0])
            same = {canonical_unit(u)[0] for u in listed if unit_dimension(u) == dimension}
            if same & _WHOLE_UNITS:
                same |= _WHOLE_UNITS  # one 台 of an inverter is one 套 of it
            accepted[category] = frozenset(same)
            display[category] = canonical_unit(listed[0])[0]
        elif counts[category]:
            # Most common unit; ties go to the alphabetically first, so builds are stable.
            top = min(counts[category].items(), key=lambda item: (-item[1], item[0]))[0]
            accepted[category] = frozenset({top})
            display[category] = top
    return accepted, display


def _cells(points: Sequence[_Point]) -> list[list[_Point]]:
    cells: dict[tuple[str | None, ...], list[_Point]] = defaultdict(list)
    for p in points:
        cells[(p.brand, p.spec, p.region)].append(p)
    return [cell for cell in cells.values() if len(cell) >= 3]


def _residuals(cell: Sequence[_Point]) -> list[tuple[float, float]]:
    """(day − the cell's mean day, log price − the cell's median), scaled for the cell size."""
    centre = median([p.log_price for p in cell])
    mean_day = sum(p.day for p in cell) / len(cell)
    scale = math.sqrt(len(cell) / (len(cell) - 1))
    return [(p.day - mean_day, (p.log_price - centre) * scale) for p in cell]


def own_sigma(points: Sequence[_Point]) -> float:
    """The within-cell spread of ``points`` (0 when no cell has three observations)."""
    residuals = [r for cell in _cells(points) for _, r in _residuals(cell)]
    if not residuals:
        return 0.0
    return robust_sigma(residuals, median(residuals))


def _fit_index(groups: Sequence[Sequence[_Point]]) -> _Index | None:
    pairs = [pair for points in groups for cell in _cells(points) for pair in _residuals(cell)]
    if len(pairs) < _INDEX_MIN_POINTS:
        return None
    values = [r for _, r in pairs]
    centre = median(values)
    limit = max(_OUTLIER_SIGMAS * robust_sigma(values, centre), _OUTLIER_FLOOR)
    kept = [(t, r) for t, r in pairs if abs(r - centre) <= limit]
    spread = sum(t * t for t, _ in kept)
    span = max(t for t, _ in kept) - min(t for t, _ in kept) if kept else 0.0
    if len(kept) < _INDEX_MIN_POINTS or span < _INDEX_MIN_SPAN_DAYS or spread == 0:
        return None
    slope = sum(t * r for t, r in kept) / spread
    detrended = [r - slope * t for t, r in kept]
    sigma = robust_sigma(detrended, median(detrended))
    # Shrink a slope that noise could have made (positive-part James–Stein): a drift of one
    # standard error is mostly noise, one of five is kept nearly whole.
    error = sigma / math.sqrt(spread)
    if slope:
        slope *= max(0.0, 1 - (error / slope) ** 2)
    slope = min(max(slope, _INDEX_CLAMP[0]), _INDEX_CLAMP[1])
    return _Index(slope, sigma)
