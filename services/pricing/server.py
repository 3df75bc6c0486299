"""Wiring only: settings → engine → catalogue, matcher, reference book → servicer → server."""

from __future__ import annotations

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
SERVICE_NAME = pricing_pb2.DESCRIPTOR.services_by_name["PricingService"].full_name


def build_usecases(settings: PricingSettings, *, clock: Clock | None = None) -> PricingUseCases:
    catalogue = load_catalogue()
    return PricingUseCases(
        create_engine(settings.database_url, schema=SCHEMA),
        clock or SystemClock(),
        catalogue=catalogue,
        matcher=Matcher(catalogue),
        labour_norms=load_labour_norms(),
        refresh_s=settings.refresh_s,
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
        metrics_port=settings.metrics_port,
    )
    app.on_start.append(usecases.refresh)  # the reference book from every stored observation
    app.on_stop.append(usecases.dispose)
    return app, usecases
