"""The services the UI calls, each call made with the signed-in person's own identity.

The web service signs a short-lived token per request for the user (subject, role, regions),
so the services authorise the person, not the web service: a contractor's browser can reach
no more through the UI than its own token could reach directly, and the claims service's
four-eyes rule sees who really decides.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from elevins.claims.v1 import claims_pb2_grpc
from elevins.contractors.v1 import contractors_pb2_grpc
from elevins.evidence.v1 import evidence_pb2_grpc
from elevins.policy.v1 import policy_pb2_grpc
from elevins.pricing.v1 import pricing_pb2 as prpb
from elevins.pricing.v1 import pricing_pb2_grpc
from services.web.settings import WebSettings
from services.web.store import User
from shared.auth import mint_token
from shared.grpc_client import channel

CALL_TIMEOUT_S = 5.0
TOKEN_TTL_S = 300
PARTS_TTL_S = 3600.0

R = TypeVar("R")


class Upstreams:
    def __init__(self, settings: WebSettings) -> None:
        self._key = settings.auth_key.reveal()
        self._channels = [
            channel(addr)
            for addr in (
                settings.claims_addr,
                settings.evidence_addr,
                settings.contractors_addr,
                settings.policy_addr,
                settings.pricing_addr,
            )
        ]
        claims, evidence, contractors, policy, pricing = self._channels
        self.claims = claims_pb2_grpc.ClaimsServiceStub(claims)
        self.evidence = evidence_pb2_grpc.EvidenceServiceStub(evidence)
        self.contractors = contractors_pb2_grpc.ContractorsServiceStub(contractors)
        self.policy = policy_pb2_grpc.PolicyServiceStub(policy)
        self.pricing = pricing_pb2_grpc.PricingServiceStub(pricing)
        self._parts: dict[str, tuple[str, str]] = {}
        self._parts_at = -PARTS_TTL_S

    def caller(self, user: User) -> Caller:
        token = mint_token(
            self._key,
            subject=user.subject,
            role=user.role.value,
            regions=user.regions,
            ttl_seconds=TOKEN_TTL_S,
        )
        return Caller(self, (("authorization", f"Bearer {token}"),))

    async def part_names(self, caller: Caller) -> dict[str, tuple[str, str]]:
        """Category code → (Chinese, English) name, from the pricing catalogue; refreshed hourly
        (a new catalogue version is rare, and a stale name is harmless for a while)."""
        if time.monotonic() - self._parts_at >= PARTS_TTL_S:
            reply = await caller(self.pricing.ListCategories, prpb.ListCategoriesRequest())
            self._parts = {c.code: (c.name_zh, c.name_en) for c in reply.categories}
            self._parts_at = time.monotonic()
        return self._parts

    async def close(self) -> None:
        for ch in self._channels:
            await ch.close(None)


@dataclass(frozen=True)
class Caller:
    """``await caller(up.claims.GetClaim, request)``: one bounded call as the user."""

    up: Upstreams
    metadata: tuple[tuple[str, str], ...]

    async def __call__(self, method: Callable[..., Awaitable[R]], request: Any) -> R:
        return await method(request, metadata=self.metadata, timeout=CALL_TIMEOUT_S)


def is_status(error: BaseException, *codes: grpc.StatusCode) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in codes
