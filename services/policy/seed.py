"""The demo city: a few Zhuzhou communities, ~50 elevators, votes that pass and fail, policies.

Deterministic (a fixed random seed) and idempotent (a community that exists is left alone), so
`make run` can call it every time. It goes through the same use cases as the gRPC API, as the
operator's "service" identity, so the demo data obeys every rule the real data does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from services.policy.domain.inspections import InspectionResult
from services.policy.domain.registry import Community, ElevatorSpec, FlatRecord
from services.policy.domain.voting import Ballot
from services.policy.settings import PolicySettings
from services.policy.store import PolicyStore, new_id
from services.policy.usecases import PolicyUseCases
from shared.auth import Principal, Role, set_principal
from shared.clock import SystemClock
from shared.db import create_engine

PRODUCT = "ELEV-REPAIR-STD"
RULE_SET = "civil_code_2021_art278"
FLOORS = 18
FLATS_PER_FLOOR = 2

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
    "余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯"
    "龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强红梅海燕春梅玉兰"
BRANDS = ("奥的斯", "三菱", "日立", "通力", "迅达", "蒂森克虏伯", "康力", "广日")


@dataclass(frozen=True)
class DemoCommunity:
    region_code: str
    name: str
    buildings: int
    units_per_building: int
    appreciation_fen: int


# 株洲市: 荷塘区 430202, 芦淞区 430203, 石峰区 430204, 天元区 430211.
CITY = (
    DemoCommunity("430202", "荷塘区 枫叶小区", 4, 3, 2_000_000),
    DemoCommunity("430203", "芦淞区 建设村小区", 3, 4, 800_000),
    DemoCommunity("430204", "石峰区 田心东园", 4, 3, 0),
    DemoCommunity("430211", "天元区 湘水湾", 3, 5, 5_000_000),
)


async def seed_demo_city(settings: PolicySettings, *, elevators: int = 50) -> None:
    engine = create_engine(settings.database_url, schema="policy", pool_size=2)
    clock = SystemClock()
    from services.policy.domain.products import load_default_products
    from services.policy.domain.voting import load_default_rule_sets

    uc = PolicyUseCases(
        engine, clock, products=load_default_products(), rule_sets=load_default_rule_sets()
    )
    set_principal(Principal("demo-seed", Role.SERVICE, frozenset({"*"}), expires_at=2**62))
    rng = random.Random(2026)  # noqa: S311  (demo data must be reproducible, not secret)
    remaining = elevators
    summary = {
        "communities": 0,
        "elevators": 0,
        "votes_passed": 0,
        "votes_failed": 0,
        "policies": 0,
    }
    samples: list[str] = []
    try:
        for demo in CITY:
            units = min(remaining, demo.buildings * demo.units_per_building)
            remaining -= units
            if units <= 0:
                break
            existing = await uc.read(
                partial(PolicyStore.community_by_name, region_code=demo.region_code, name=demo.name)
            )
            if existing is not None:
                continue
            counts = await uc.transaction(
                partial(_seed_community, uc, demo=demo, units=units, rng=rng, samples=samples)
            )
            summary["communities"] += 1
            for key, value in counts.items():
                summary[key] += value
    finally:
        await engine.dispose()
    if summary["communities"] == 0:
        print("demo city: already seeded")
        return
    print(
        "demo city seeded: {communities} communities, {elevators} elevators, "
        "{votes_passed} votes passed, {votes_failed} failed, {policies} policies".format(**summary)
    )
    for line in samples[:3]:
        print(f"  try CheckCoverage with registration_code {line}")


async def _seed_community(
    uc: PolicyUseCases,
    store: PolicyStore,
    *,
    demo: DemoCommunity,
    units: int,
    rng: random.Random,
    samples: list[str],
) -> dict[str, int]:
    counts = {"elevators": 0, "votes_passed": 0, "votes_failed": 0, "policies": 0}
    community = await uc.register_community(
        store,
        region_code=demo.region_code,
        name=demo.name,
        appreciation_balance_fen=demo.appreciation_fen,
    )
    today = uc.clock.now().date()
    for index in range(units):
        building, unit = (
            str(index // demo.units_per_building + 1),
            str(index % demo.units_per_building + 1),
        )
        flats = _flats(community, building, unit, rng)
        await uc.register_flats(store, community_id=community.community_id, records=flats)
        elevator = await uc.register_elevator(
            store,
            community_id=community.community_id,
            building=building,
            unit=unit,
            spec=_spec(demo.region_code, rng, serial=CITY.index(demo) * 100 + index + 1),
            served_flat_ids=(),
        )
        counts["elevators"] += 1
        # Most elevators were inspected within the year; about one in eight lapsed.
        lapsed = rng.random() < 0.125
        inspected = today - timedelta(
            days=rng.randint(400, 500) if lapsed else rng.randint(10, 300)
        )
        await uc.record_inspection(
            store,
            elevator_id=elevator.elevator_id,
            inspected_on=inspected,
            result=InspectionResult.PASSED,
            next_due_on=None,
        )
        vote = await uc.open_vote(store, elevator_id=elevator.elevator_id, rule_set=RULE_SET)
        support = rng.choice((0.45, 0.8, 0.85, 0.9, 0.95))  # some stairwells are not convinced
        turnout = rng.choice((0.5, 0.75, 0.85, 0.95))
        owners = sorted({f.owner_id for f in flats})
        cast = []
        for owner in owners:
            if rng.random() < turnout:
                cast.append((owner, Ballot.AGREE if rng.random() < support else Ballot.DISAGREE))
        if cast:
            await uc.cast_ballots(store, vote_id=vote.vote_id, cast=cast)
        closed = await uc.close_vote(store, vote_id=vote.vote_id)
        if closed.status != "passed":
            counts["votes_failed"] += 1
            continue
        counts["votes_passed"] += 1
        if lapsed:
            continue  # an elevator whose inspection lapsed must not run: no policy
        await uc.issue_policy(
            store, elevator_id=elevator.elevator_id, product_code=PRODUCT, starts_at=None
        )
        counts["policies"] += 1
        samples.append(elevator.spec.registration_code)
    return counts


def _flats(community: Community, building: str, unit: str, rng: random.Random) -> list[FlatRecord]:
    flats = []
    for floor in range(2, FLOORS + 2):
        for door in range(1, FLATS_PER_FLOOR + 1):
            area = f"{rng.randint(7_000, 14_000) / 100:.2f}"
            has_account = rng.random() < 0.85
            flats.append(
                FlatRecord(
                    flat_id=new_id("flt"),
                    community_id=community.community_id,
                    building=building,
                    unit=unit,
                    number=f"{floor}{door:02d}",
                    area=Decimal(area),
                    owner_id=f"own_{new_id('')[1:13]}",
                    owner_name=rng.choice(SURNAMES) + rng.choice(GIVEN),
                    fund_balance_fen=rng.randint(0, 300_000) if has_account else None,
                )
            )
    return flats


def _spec(region_code: str, rng: random.Random, *, serial: int) -> ElevatorSpec:
    """``serial`` makes the codes unique within the demo city (and so across re-seeds)."""
    installed = date(rng.randint(1998, 2012), rng.randint(1, 12), 1)
    return ElevatorSpec(
        registration_code=f"梯11湘B{90000 + serial:05d}({installed.year % 100:02d})",
        equipment_code=f"3110{region_code}{installed.year}{installed.month:02d}{serial:04d}",
        brand=rng.choice(BRANDS),
        landings=FLOORS + 1,
        rope_count=rng.choice((4, 5, 6)),
        rope_length_m=Decimal(f"{rng.randint(5500, 7500) / 100:.2f}"),
        motor_kw=Decimal(rng.choice(("5.5", "7.5", "11"))),
        installed_on=installed,
    )
