"""Wiring only: settings → engine → servicer → gRPC server."""

from __future__ import annotations

from elevins.policy.v1 import policy_pb2, policy_pb2_grpc
from services.policy.domain.products import load_default_products
from services.policy.domain.voting import load_default_rule_sets
from services.policy.servicer import PolicyServicer
from services.policy.settings import PolicySettings
from services.policy.usecases import PolicyUseCases
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "policy"
SERVICE_NAME = policy_pb2.DESCRIPTOR.services_by_name["PolicyService"].full_name


def build_app(
    settings: PolicySettings, *, clock: Clock | None = None, port: int | None = None
) -> GrpcApp:
    engine = create_engine(settings.database_url, schema=SCHEMA)
    usecases = PolicyUseCases(
        engine,
        clock or SystemClock(),
        products=load_default_products(),
        rule_sets=load_default_rule_sets(),
    )
    app = GrpcApp(
        name="policy",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                policy_pb2_grpc.add_PolicyServiceServicer_to_server,
                PolicyServicer(usecases),
            )
        ],
        grace_s=settings.grpc_shutdown_grace_s,
        metrics_port=settings.metrics_port,
    )
    app.on_stop.append(engine.dispose)
    return app
