import math
import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.pricing.core.references import (
    MIN_TOLERANCE,
    Basis,
    Level,
    Observation,
    ReferenceBook,
    brand_key,
    canonical_unit,
    median,
    region_pools,
    unit_dimension,
)

ON = date(2026, 1, 1)
CATALOGUE_UNITS = {
    "inverter": ("台", "个"),
    "wire_rope": ("米", "根", "卷"),
    "labour": ("工时", "小时", "工日", "人次", "次", "项"),
}


def obs(
    price: float,
    *,
    category: str = "inverter",
    day: date = date(2025, 6, 1),
    region: str = "430200",
    brand: str | None = None,
    spec: str | None = None,
    unit: str = "台",
) -> Observation:
    return Observation(
        category=category,
        brand=brand,
        region=region,
        observed_on=day,
        unit_price_fen=round(price),
        unit=unit,
        source="settled_claim",
        spec=spec,
    )


def market(
    rng: random.Random, count: int, price: float, sigma: float = 0.05, **kwargs: object
) -> list[Observation]:
    """``count`` observations around ``price`` with log-normal noise, over 2025."""
    rows = []
    for i in range(count):
        day = date(2025, 1, 1) + timedelta(days=(i * 360) // max(count, 1))
        rows.append(obs(price * math.exp(rng.gauss(0, sigma)), day=day, **kwargs))  # type: ignore[arg-type]
    return rows


def book(rows: list[Observation], **kwargs: object) -> ReferenceBook:
    return ReferenceBook.build(rows, version="test-1", units=CATALOGUE_UNITS, **kwargs)  # type: ignore[arg-type]


def test_median_and_a_band_whose_top_is_above_the_median():
    rows = market(random.Random(1), 25, 1_200_000)
    ref = book(rows).reference(category="inverter", region="430200", on=ON)
    assert ref is not None
    assert ref.n == 25 and ref.excluded == 0
    assert ref.level is Level.CITY and ref.region == "430200"
    assert ref.basis is Basis.CATEGORY
    assert ref.version == "test-1" and ref.on == ON and ref.unit == "台"
    assert abs(ref.median_fen / 1_200_000 - 1) < 0.04
    assert ref.low_fen < ref.median_fen < ref.high_fen
    assert ref.high_fen >= ref.median_fen * (1 + MIN_TOLERANCE) - 1


def test_one_suppliers_typos_do_not_move_the_reference():
    rng = random.Random(2)
    clean = market(rng, 20, 1_200_000)
    honest = book(clean).reference(category="inverter", region="430200", on=ON)
    # One supplier keys ×10 twice and ÷10 once (yuan for fen): the reference must not move.
    typos = [
        obs(12_000_000, day=date(2025, 12, 1)),
        obs(11_800_000, day=date(2025, 12, 2)),
        obs(120_000, day=date(2025, 12, 3)),
    ]
    dirty = book(clean + typos).reference(category="inverter", region="430200", on=ON)
    assert honest is not None and dirty is not None
    assert dirty.excluded == 3 and dirty.n == 20
    assert abs(dirty.median_fen / honest.median_fen - 1) < 0.01
    assert abs(dirty.high_fen / honest.high_fen - 1) < 0.01


def test_only_observations_strictly_before_the_quote_date_count():
    rng = random.Random(3)
    rows = market(rng, 10, 1_000_000)
    # On the quote date itself and after it: a claim cannot vouch for itself.
    later = [obs(5_000_000, day=ON) for _ in range(10)]
    later += [obs(5_000_000, day=ON + timedelta(days=d)) for d in range(1, 11)]
    before = book(rows).reference(category="inverter", region="430200", on=ON)
    with_later = book(rows + later).reference(category="inverter", region="430200", on=ON)
    assert before == with_later
    # A day later the same-day observations are in force.
    next_day = book(rows + later).reference(
        category="inverter", region="430200", on=ON + timedelta(days=1)
    )
    assert next_day is not None and next_day.median_fen > 2_000_000


def test_observations_older_than_the_window_are_ignored():
    old = [obs(900_000, day=date(2020, 1, 1) + timedelta(days=i)) for i in range(10)]
    assert book(old).reference(category="inverter", region="430200", on=ON) is None
    assert book(old, window_days=10 * 365).reference(category="inverter", region="430200", on=ON)


def test_too_few_observations_give_no_reference():
    rng = random.Random(4)
    four = market(rng, 4, 1_000_000)
    assert book(four).reference(category="inverter", region="430200", on=ON) is None
    five = [*four, obs(1_000_000)]
    assert book(five).reference(category="inverter", region="430200", on=ON) is not None
    assert book(five).reference(category="brake", region="430200", on=ON) is None


def test_region_falls_back_from_city_to_province_to_nation():
    rng = random.Random(5)
    rows = market(rng, 3, 1_000_000, region="430200")  # 株洲: too few alone
    rows += market(rng, 4, 1_000_000, region="430100")  # 长沙
    rows += market(rng, 6, 1_000_000, region="120000")  # 天津
    references = book(rows)
    zhuzhou = references.reference(category="inverter", region="430200", on=ON)
    assert zhuzhou is not None
    assert zhuzhou.level is Level.PROVINCE and zhuzhou.region == "430000" and zhuzhou.n == 7
    tianjin = references.reference(category="inverter", region="120101", on=ON)
    assert tianjin is not None and tianjin.level is Level.CITY and tianjin.region == "120000"
    guangzhou = references.reference(category="inverter", region="440100", on=ON)
    assert guangzhou is not None
    assert guangzhou.level is Level.NATIONAL and guangzhou.region == "000000"
    assert guangzhou.n == 13
    # An unreadable region still gets the national reference.
    assert references.reference(category="inverter", region="zz", on=ON) == guangzhou


def test_a_province_pool_is_carried_to_the_quotes_city():
    rng = random.Random(6)
    rows = market(rng, 4, 1_000_000, region="430200")  # 株洲: too few alone
    rows += market(rng, 12, 1_200_000, region="430100")  # 长沙, 20 % dearer
    ref = book(rows).reference(category="inverter", region="430200", on=ON)
    assert ref is not None and ref.level is Level.PROVINCE and ref.n == 16
    # 长沙's prices are carried to 株洲's level by the city effects, not averaged in raw.
    assert abs(ref.median_fen / 1_000_000 - 1) < 0.05
    # A city with no effect of its own gets the province's own mix.
    xiangtan = book(rows).reference(category="inverter", region="430300", on=ON)
    assert xiangtan is not None and xiangtan.median_fen > 1_100_000


def test_the_price_index_carries_old_observations_to_the_quote_date():
    rng = random.Random(7)
    rows = []
    start = date(2024, 1, 1)
    for i in range(80):  # +10 % a year over two years
        day = start + timedelta(days=i * 9)
        years = (day - start).days / 365.25
        rows.append(obs(1_000_000 * 1.10**years * math.exp(rng.gauss(0, 0.03)), day=day))
    references = book(rows)
    assert 0.07 < references.price_index("inverter", ON) < 0.13
    ref = references.reference(category="inverter", region="430200", on=ON)
    assert ref is not None and 0.07 < ref.index_per_year < 0.13
    expected = 1_000_000 * 1.10 ** ((ON - start).days / 365.25)
    assert abs(ref.median_fen / expected - 1) < 0.03
    # The raw median of two years of prices would be about 10 % low.
    raw = median([o.unit_price_fen for o in rows])
    assert raw < expected * 0.93


def test_brand_and_spec_effects_are_measured_across_the_category():
    rng = random.Random(8)
    rows = []
    for spec, level in (("7.5kW", 1.0), ("11kW", 1.3)):
        rows += market(rng, 15, 1_000_000 * level, spec=spec)
        rows += market(rng, 4, 1_500_000 * level, spec=spec, brand="三菱")
    references = book(rows)
    generic = references.reference(category="inverter", region="430200", on=ON, spec="7.5kW")
    mitsubishi = references.reference(
        category="inverter", region="430200", on=ON, spec="11kW", brand="三菱"
    )
    assert generic is not None and mitsubishi is not None
    assert generic.basis is Basis.SPEC and mitsubishi.basis is Basis.BRAND_SPEC
    assert mitsubishi.brand == "三菱" and mitsubishi.spec == "11kW"
    # 4 observations of Mitsubishi 11 kW alone would be too few; all 38 inform it.
    assert mitsubishi.n == 38
    assert abs(mitsubishi.median_fen / (1_500_000 * 1.3) - 1) < 0.05
    assert abs(generic.median_fen / 1_000_000 - 1) < 0.05
    # A brand never observed is not guessed: the pool's own mix ("any brand") is used.
    other = references.reference(category="inverter", region="430200", on=ON, brand="ABB")
    assert other is not None and other.basis is Basis.CATEGORY and other.brand is None


def test_brands_compare_without_case_width_or_spaces():
    assert brand_key(" Mitsubishi ") == brand_key("MITSUBISHI") == "mitsubishi"
    assert brand_key("ＯＴＩＳ") == "otis"
    assert brand_key("") is None and brand_key(None) is None


def test_units_are_folded_and_other_units_skipped():
    rng = random.Random(9)
    rope = market(rng, 8, 4_000, category="wire_rope", unit="米")
    rope += market(rng, 2, 4_000, category="wire_rope", unit="m")
    per_rope = market(rng, 10, 480_000, category="wire_rope", unit="根")
    references = book(rope + per_rope)
    assert references.skipped == 10
    ref = references.reference(category="wire_rope", region="430200", on=ON)
    assert ref is not None and ref.n == 10 and ref.unit == "米"
    assert abs(ref.median_fen / 4_000 - 1) < 0.05
    assert references.unit_factor("wire_rope", "M") == 1
    assert references.unit_factor("wire_rope", "根") is None
    # 台 and 套 are one piece of equipment; 个 is listed by the catalogue.
    inverters = book(market(rng, 5, 1_000_000))
    assert inverters.unit_factor("inverter", "套") == 1
    assert inverters.unit_factor("inverter", "只") == 1
    assert inverters.unit_factor("inverter", "米") is None


def test_labour_days_convert_to_hours():
    rng = random.Random(10)
    hours = market(rng, 6, 15_000, category="labour", unit="工时")
    days = market(rng, 6, 120_000, category="labour", unit="工日")
    lumps = market(rng, 6, 50_000, category="labour", unit="项")
    references = book(hours + days + lumps)
    assert references.skipped == 6
    ref = references.reference(category="labour", region="430200", on=ON)
    assert ref is not None and ref.n == 12 and ref.unit == "工时"
    assert abs(ref.median_fen / 15_000 - 1) < 0.05
    assert references.unit_factor("labour", "工日") == 8
    assert references.unit_factor("labour", "小时") == 1


def test_without_a_catalogue_the_commonest_unit_is_the_reference_unit():
    rng = random.Random(11)
    rows = market(rng, 6, 4_000, category="wire_rope", unit="米")
    rows += market(rng, 2, 480_000, category="wire_rope", unit="根")
    references = ReferenceBook.build(rows, version="v")
    assert references.unit("wire_rope") == "米" and references.skipped == 2


def test_empty_book_answers_nothing():
    empty = ReferenceBook.build([], version="empty")
    assert empty.reference(category="inverter", region="430200", on=ON) is None
    assert empty.unit("inverter") is None
    assert empty.unit_factor("inverter", "台") is None
    assert empty.price_index("inverter", ON) == 0.0
    with pytest.raises(ValueError):
        ReferenceBook.build([], version="v", min_n=0)


@pytest.mark.parametrize(
    ("region", "pools"),
    [
        ("430200", ("430200", "430000")),
        ("430281", ("430200", "430000")),  # 醴陵市 belongs to 株洲
        ("120104", ("120000", "120000")),  # a municipality is one city
        ("430000", (None, "430000")),
        ("43020", (None, None)),
        ("４３０２００", (None, None)),
        ("", (None, None)),
    ],
)
def test_region_pools(region, pools):
    assert region_pools(region) == pools


@pytest.mark.parametrize(
    ("unit", "canonical", "factor", "dimension"),
    [
        ("米", "米", 1, "length"),
        ("M", "米", 1, "length"),
        ("元/米", "米", 1, "length"),
        ("只", "个", 1, "count"),
        ("块", "个", 1, "count"),
        ("部", "台", 1, "count"),
        ("组", "套", 1, "count"),
        ("扇", "樘", 1, "count"),
        ("小时", "工时", 1, "time"),
        ("工日", "工时", 8, "time"),
        ("人天", "工时", 8, "time"),
        ("次", "项", 1, "lump"),
        ("桶", "桶", 1, "桶"),
    ],
)
def test_units(unit, canonical, factor, dimension):
    assert canonical_unit(unit) == (canonical, Decimal(factor))
    assert unit_dimension(unit) == dimension
