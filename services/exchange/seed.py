"""Demo partners for the demo city (株洲, region 4302): the bureaus, a property manager, an IoT
platform, and the demo partner account that `make run` prints a token for. Idempotent (an
upsert by partner id). None has an inbox address: the demo has no partner systems to call,
so nothing is queued for them; register one with an inbox to watch deliveries."""

from __future__ import annotations

from services.exchange.domain.notifications import DEFAULT_TOPICS
from services.exchange.domain.records import KINDS
from services.exchange.server import build_usecases
from services.exchange.settings import ExchangeSettings
from services.exchange.store import ExchangeStore, PartnerRow
from shared.auth import Principal, Role, set_principal

ZHUZHOU = ("4302",)
DEMO_PARTNERS = (
    PartnerRow(
        "zz-msb",
        "株洲市市场监督管理局",
        "market_supervision",
        ZHUZHOU,
        ("registry", "inspection"),
        "",
        DEFAULT_TOPICS["market_supervision"],
        1,
    ),
    PartnerRow(
        "zz-housing",
        "株洲市住房和城乡建设局维修资金管理中心",
        "housing_bureau",
        ZHUZHOU,
        ("fund_account",),
        "",
        DEFAULT_TOPICS["housing_bureau"],
        2,
    ),
    PartnerRow(
        "zz-pm-lusong",
        "芦淞区某物业服务有限公司",
        "property_manager",
        ("430203",),
        ("roster", "maintenance"),
        "",
        DEFAULT_TOPICS["property_manager"],
        1,
    ),
    PartnerRow(
        "zz-iot",
        "电梯卫士物联网平台",
        "iot_platform",
        ZHUZHOU,
        ("alarm",),
        "",
        DEFAULT_TOPICS["iot_platform"],
        1,
    ),
    # The `partner` token printed by `make run` (subject demo-partner): every feed, to try.
    PartnerRow(
        "demo-partner", "演示合作方", "property_manager", ZHUZHOU, (*KINDS, "alarm"), "", (), 1
    ),
)


async def seed_demo_partners(settings: ExchangeSettings) -> None:
    usecases, channels = build_usecases(settings)
    set_principal(Principal("seed-exchange", Role.SERVICE, frozenset({"*"}), 2**62))
    try:

        async def work(store: ExchangeStore) -> None:
            for row in DEMO_PARTNERS:
                await store.add_partner(row, registered_by="seed-exchange")

        await usecases.transaction(work)
        print(f"exchange: {len(DEMO_PARTNERS)} demo partners in {', '.join(ZHUZHOU)}")
    finally:
        for channel in channels:
            await channel.close(grace=None)
        await usecases.dispose()
