"""Wiring only: settings → engine → upstream clients → servicer → gRPC server (+ clock sweeper)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from elevins.claims.v1 import claims_pb2, claims_pb2_grpc
from services.claims.clients import (
    GrpcContractorsClient,
    GrpcEvidenceClient,
    GrpcPolicyClient,
    GrpcPricingClient,
    GrpcValidationClient,
    Upstreams,
)
from services.claims.metrics import ClaimFiguresCollector
from services.claims.servicer import ClaimsServicer, map_domain_error
from services.claims.settings import ClaimsSettings
from services.claims.usecases import ClaimsUseCases, Rules
from shared.auth import Role, mint_token
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_client import channel
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "claims"
SERVICE_NAME = claims_pb2.DESCRIPTOR.services_by_name["ClaimsService"].full_name
# The claims service's own identity towards other services; re-minted well before expiry.
SERVICE_TOKEN_TTL_S = 365 * 24 * 3600

log = logging.getLogger("elevins.claims")


def _upstreams(
    settings: ClaimsSettings,
    policy: grpc.aio.Channel,
    token: str,
    channels: list[grpc.aio.Channel],
) -> Upstreams:
    upstreams = Upstreams(policy=GrpcPolicyClient(policy, token))
    if settings.pricing_addr:
        pricing = channel(settings.pricing_addr)
        channels.append(pricing)
        upstreams.pricing = GrpcPricingClient(pricing, token)
    if settings.validation_addr:
        validation = channel(settings.validation_addr)
        channels.append(validation)
        upstreams.validation = GrpcValidationClient(validation, token)
    if settings.contractors_addr:
        contractors = channel(settings.contractors_addr)
        channels.append(contractors)
        upstreams.contractors = GrpcContractorsClient(contractors, token)
    if settings.evidence_addr:
        evidence = channel(settings.evidence_addr)
        channels.append(evidence)
        upstreams.evidence = GrpcEvidenceClient(evidence, token)
    return upstreams


def build_app(
    settings: ClaimsSettings,
    *,
    clock: Clock | None = None,
    port: int | None = None,
    upstreams: Upstreams | None = None,
) -> tuple[GrpcApp, ClaimsUseCases]:
    engine = create_engine(settings.database_url, schema=SCHEMA)
    policy_channel = channel(settings.policy_addr)
    channels = [policy_channel]
    token = mint_token(
        settings.auth_key.reveal(),
        subject="svc-claims",
        role=Role.SERVICE.value,
        regions=["*"],
        ttl_seconds=SERVICE_TOKEN_TTL_S,
    )
    usecases = ClaimsUseCases(
        engine,
        clock or SystemClock(),
        upstreams or _upstreams(settings, policy_channel, token, channels),
        Rules(
            straight_through_max_fen=settings.straight_through_max_fen,
            white_list_straight_through_max_fen=settings.white_list_straight_through_max_fen,
            second_review_above_fen=settings.second_review_above_fen,
        ),
    )
    # Open claims by state, clock breaches, money trimmed: read from the database per scrape.
    figures = ClaimFiguresCollector(usecases)
    app = GrpcApp(
        name="claims",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                claims_pb2_grpc.add_ClaimsServiceServicer_to_server,
                ClaimsServicer(usecases),
            )
        ],
        map_error=map_domain_error,
        grace_s=settings.grpc_shutdown_grace_s,
        metrics_port=settings.metrics_port,
        metrics_refreshers=[figures.refresh],
        metrics_collectors=[figures],
    )
    sweeper = asyncio.Event()

    async def sweep_forever() -> None:
        # Deadlines live in the database, so a restart loses no clock; the sweep only flags.
        while not sweeper.is_set():
            try:
                await usecases.sweep_clocks()
            except Exception:
                log.exception("clock sweep failed; retrying next round")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sweeper.wait(), settings.clock_sweep_s)

    task: list[asyncio.Task[None]] = []

    async def start_sweeper() -> None:
        task.append(asyncio.create_task(sweep_forever()))

    async def stop() -> None:
        sweeper.set()
        for t in task:
            await t
        for open_channel in channels:
            await open_channel.close(grace=None)
        await engine.dispose()

    app.on_start.append(start_sweeper)
    app.on_stop.append(stop)
    return app, usecases
