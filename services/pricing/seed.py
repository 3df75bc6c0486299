"""Demo price observations for Zhuzhou (430200): two years of supplier lists and settled claims
per part, imported through the same checks and matcher as any partner's file. Idempotent: the
import's request id is fixed, so a second run changes nothing."""

from __future__ import annotations

import random
from datetime import date, timedelta

from services.pricing.server import build_usecases
from services.pricing.settings import PricingSettings
from services.pricing.usecases import RawObservation
from shared.auth import Principal, Role, set_principal

REGION = "430200"
REQUEST_ID = "demo-prices-2026-11"
# (description as a shop writes it, unit, typical unit price in fen)
MARKET: tuple[tuple[str, str, int], ...] = (
    ("曳引机", "台", 3_600_000),
    ("曳引钢丝绳", "米", 4_500),
    ("变频器", "台", 1_200_000),
    ("主板", "块", 800_000),
    ("门机", "套", 650_000),
    ("层门", "扇", 350_000),
    ("光幕", "套", 120_000),
    ("门锁", "个", 45_000),
    ("抱闸", "套", 500_000),
    ("编码器", "个", 150_000),
    ("限速器", "台", 380_000),
    ("安全钳", "套", 420_000),
    ("导靴", "个", 6_000),
    ("缓冲器", "个", 90_000),
    ("按钮", "个", 8_000),
    ("显示板", "块", 60_000),
    ("随行电缆", "米", 6_500),
    ("接触器", "个", 35_000),
    ("绳头组合", "套", 25_000),
)


# The history ends on a fixed day, so every run produces the same file (and the import's
# request id can stay fixed).
HISTORY_ENDS = date(2026, 11, 1)


def demo_rows(*, per_part: int = 14) -> list[RawObservation]:
    rng = random.Random(2026)  # noqa: S311  (demo data must be reproducible, not secret)
    today = HISTORY_ENDS
    rows: list[RawObservation] = []
    for description, unit, price in MARKET:
        for _ in range(per_part):
            age = rng.randint(1, 720)
            drift = 1 - 0.03 * age / 365  # prices rose ~3% a year
            rows.append(
                RawObservation(
                    row=len(rows) + 1,
                    description=description,
                    brand="",
                    region=REGION,
                    observed_on=(today - timedelta(days=age)).isoformat(),
                    unit_price_fen=int(price * drift * rng.uniform(0.9, 1.1)),
                    unit=unit,
                    source=rng.choice(("supplier_list", "settled_claim")),
                )
            )
    return rows


async def seed_demo_prices(settings: PricingSettings) -> None:
    uc = build_usecases(settings)
    set_principal(Principal("demo-seed", Role.SERVICE, frozenset({"*"}), expires_at=2**62))
    try:
        report = await uc.import_observations(request_id=REQUEST_ID, rows=demo_rows())
    finally:
        await uc.dispose()
    print(
        f"demo prices: {report.accepted} observations for {REGION}, "
        f"{len(report.rejected)} rejected, reference {report.reference_version}"
    )
