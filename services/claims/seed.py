"""Demo claims in every state, made through the same use cases (and the real policy service)
as live claims, so the queue and the claim pages have something true to show. Idempotent: a
database that already has claims is left alone."""

from __future__ import annotations

import hashlib
from collections.abc import Coroutine
from functools import partial
from typing import Any

import grpc

from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from services.claims.domain.quotes import RawLine, parse_quote_lines
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from services.claims.store import ClaimRow
from services.claims.usecases import ClaimsUseCases
from shared.auth import Principal, Role, mint_token, set_principal

CONTRACTOR = "demo-contractor"
ROOM_NEEDED_FEN = 10_000_000  # 100,000 CNY: more than any scripted quote
DEMO_REPORTER = "iot-platform-demo"
# (how far to take the claim, fault category, quote lines as (description, quantity, unit, fen))
SCRIPT: tuple[tuple[str, str, tuple[tuple[str, str, str, int], ...]], ...] = (
    ("reported", "trapped_passenger", ()),
    ("dispatched", "door_fault", ()),
    ("on_site", "stopped", ()),
    ("under_review", "abnormal_noise", (("曳引机 7.5KW 原厂", "1", "台", 3_980_000),)),
    (
        "pending_second_review",
        "abnormal_noise",
        (
            ("曳引机 7.5KW", "1", "台", 3_600_000),
            ("变频器 11kW", "1", "台", 1_200_000),
            ("主板", "1", "块", 800_000),
        ),
    ),
    ("approved", "door_fault", (("门机 变频门机系统", "1", "套", 650_000),)),
    ("rejected", "electrical_fault", (("主板MCB-3000", "2", "块", 900_000),)),
    ("repaired", "leveling_fault", (("编码器", "1", "个", 150_000),)),
    ("confirmed", "door_fault", (("按钮 层站召唤", "4", "个", 8_000),)),
    ("paid", "stopped", (("抱闸线圈", "1", "套", 480_000),)),
    ("closed", "abnormal_noise", (("导靴衬", "8", "个", 6_000),)),
)


def _as(subject: str, role: Role) -> None:
    set_principal(Principal(subject, role, frozenset({"*"}), expires_at=2**62))


async def seed_demo_claims(settings: ClaimsSettings) -> None:
    app, uc = build_app(settings, port=0)
    try:
        if await uc.read(lambda s: s.any_claim_reported_by(DEMO_REPORTER)):
            print("demo claims: already seeded")
            return
        codes = iter(await _insured_codes(settings, 4 * len(SCRIPT)))
        made: dict[str, int] = {}
        for goal, category, lines in SCRIPT:
            # An elevator that already has an open claim for this fault would fold the demo
            # report into it: take the next insured elevator instead.
            claim = None
            for code in codes:
                claim = await _drive(uc, code, goal, category, lines)
                if claim is not None:
                    break
            if claim is not None:
                made[claim.state] = made.get(claim.state, 0) + 1
        print("demo claims seeded: " + ", ".join(f"{n} {state}" for state, n in made.items()))
    finally:
        for hook in app.on_stop:
            await hook()


async def _insured_codes(settings: ClaimsSettings, count: int) -> list[str]:
    token = mint_token(
        settings.auth_key.reveal(),
        subject="demo-seed",
        role="service",
        regions=["*"],
        ttl_seconds=600,
    )
    metadata = (("authorization", f"Bearer {token}"),)
    codes: list[str] = []
    async with grpc.aio.insecure_channel(settings.policy_addr) as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        reply = await stub.ListElevators(
            ppb.ListElevatorsRequest(page_size=200), metadata=metadata, timeout=10
        )
        for elevator in reply.elevators:
            if len(codes) == count or not elevator.current_policy_id:
                continue
            policy = (
                await stub.GetPolicy(
                    ppb.GetPolicyRequest(policy_id=elevator.current_policy_id),
                    metadata=metadata,
                    timeout=10,
                )
            ).policy
            # Room for the demo repairs: a policy year already used up would pay nothing.
            if policy.remaining_fen >= ROOM_NEEDED_FEN:
                codes.append(elevator.spec.registration_code)
    return codes


async def _as_is(store: object, claim: ClaimRow) -> ClaimRow:
    return claim


async def _drive(
    uc: ClaimsUseCases,
    code: str,
    goal: str,
    category: str,
    lines: tuple[tuple[str, str, str, int], ...],
) -> ClaimRow | None:
    """Take one new claim as far as ``goal``, each step as the person who would do it."""
    _as(DEMO_REPORTER, Role.PARTNER)
    intake = await uc.report_loss(
        source="iot_alarm",
        source_event_id=f"demo-{hashlib.sha256(f'{code}/{category}'.encode()).hexdigest()[:24]}",
        registration_code=code,
        category=category,
        occurred_at=None,
        description="物联网平台自动报警",
        present=_as_is,
    )
    if not intake.created:
        return None
    claim_id = intake.claim.id
    quote = (
        parse_quote_lines(
            [RawLine(description=d, quantity=q, unit=u, unit_price_fen=p) for d, q, u, p in lines]
        )
        if lines
        else ()
    )
    approve = "approve" if goal != "rejected" else "reject"
    steps: list[tuple[str, Role, partial[Coroutine[Any, Any, ClaimRow]]]] = [
        (
            "demo-adjuster",
            Role.ADJUSTER,
            partial(uc.dispatch, claim_id=claim_id, contractor_id=CONTRACTOR),
        ),
        (CONTRACTOR, Role.CONTRACTOR, partial(uc.arrive, claim_id=claim_id, at=None)),
        (CONTRACTOR, Role.CONTRACTOR, partial(uc.submit_quote, claim_id=claim_id, lines=quote)),
        (
            "demo-adjuster",
            Role.ADJUSTER,
            partial(
                uc.decide,
                claim_id=claim_id,
                kind=approve,
                line_amounts=None,
                reason_codes=("NOT_COVERED_WEAR",) if approve == "reject" else (),
                note="演示：审核意见",
            ),
        ),
        (
            "demo-senior-reviewer",
            Role.SENIOR_REVIEWER,
            partial(
                uc.second_review, claim_id=claim_id, approve=True, reason_codes=(), note="复核同意"
            ),
        ),
        (CONTRACTOR, Role.CONTRACTOR, partial(uc.mark_repaired, claim_id=claim_id, at=None)),
        (
            "demo-property-manager",
            Role.PARTNER,
            partial(uc.confirm, claim_id=claim_id, owner_representative=False, name="物业张经理"),
        ),
        (
            "demo-property-manager",
            Role.PARTNER,
            partial(uc.confirm, claim_id=claim_id, owner_representative=True, name="业委会李主任"),
        ),
        ("demo-seed", Role.SERVICE, partial(uc.pay, claim_id=claim_id)),
        ("demo-seed", Role.SERVICE, partial(uc.close, claim_id=claim_id, note="结案")),
    ]
    claim = intake.claim
    for subject, role, step in steps:
        if claim.state == goal:
            break
        # A small quote may go straight through, or need only one reviewer: skip what the
        # claim does not need.
        if step.func == uc.decide and claim.state != "under_review":
            continue
        if step.func == uc.second_review and claim.state != "pending_second_review":
            continue
        _as(subject, role)
        claim = await uc.transaction(step)
    return claim
