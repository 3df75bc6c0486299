"""Wiring only: settings → engine → catalogue, matcher, reference book → servicer → server."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from elevins.pricing.v1 import pricing_pb2, pricing_pb2_grpc
from services.pricing.core.catalogue import load_catalogue
from services.pricing.core.labour_norms import load_labour_norms
from services.pricing.core.matching import Matcher
from services.pricing.servicer import PricingServicer
from services.pricing.settings import PricingSettings
from services.pricing.usecases import PricingUseCases
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "pricing"
log = logging.getLogger("elevins.pricing")
SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name


def build_usecases(settings: PricingSettings, *, clock: Clock | None = None) -> PricingUseCases:
    catalogue = load_catalogue()
    return PricingUseCases(
        create_engine(settings.database_url, schema=SCHEMA),
        clock or SystemClock(),
        catalogue=catalogue,
        matcher=Matcher(catalogue),
        labour_norms=load_labour_norms(),
    )


def build_app(
    settings: PricingSettings, *, port: int | None = None
) -> tuple[GrpcApp, PricingUseCases]:
    usecases = build_usecases(settings)
    app = GrpcApp(
        name="pricing",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                pricing_pb2_grpc.add_PricingServiceServicer_to_server,
                PricingServicer(usecases),
            )
        ],
        grace_s=settings.grpc_shutdown_grace_s,
    )
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def refresh_forever() -> None:
        while not stopping.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), settings.refresh_s)
            try:
                await usecases.refresh_if_changed()
            except Exception:
                log.exception("reference refresh failed; keeping the current book")

    async def start() -> None:
        await usecases.refresh()  # the reference book from every stored observation
        tasks.append(asyncio.create_task(refresh_forever()))

    async def stop() -> None:
        stopping.set()
        for task in tasks:
            await task
        await usecases.dispose()

    app.on_start.append(start)
    app.on_stop.append(stop)
    return app, usecases
