"""Wiring only: settings → engine → scoring weights and list rules → servicer → server."""

from __future__ import annotations

from elevins.contractors.v1 import contractors_pb2, contractors_pb2_grpc
from services.contractors.domain.scorecards import load_scoring_weights
from services.contractors.domain.standing import load_standing_rules
from services.contractors.servicer import ContractorsServicer
from services.contractors.settings import ContractorsSettings
from services.contractors.usecases import ContractorsUseCases
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "contractors"
SERVICE_NAME = contractors_pb2.DESCRIPTOR.services_by_name["ContractorsService"].full_name


def build_usecases(
    settings: ContractorsSettings, *, clock: Clock | None = None
) -> ContractorsUseCases:
    return ContractorsUseCases(
        create_engine(settings.database_url, schema=SCHEMA),
        clock or SystemClock(),
        weights=load_scoring_weights(),
        rules=load_standing_rules(),
    )


def build_app(
    settings: ContractorsSettings, *, port: int | None = None, clock: Clock | None = None
) -> tuple[GrpcApp, ContractorsUseCases]:
    usecases = build_usecases(settings, clock=clock)
    app = GrpcApp(
        name="contractors",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                contractors_pb2_grpc.add_ContractorsServiceServicer_to_server,
                ContractorsServicer(usecases),
            )
        ],
        grace_s=settings.grpc_shutdown_grace_s,
        metrics_port=settings.metrics_port,
    )
    app.on_stop.append(usecases.dispose)
    return app, usecases
