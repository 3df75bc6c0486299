"""Wiring only: settings → packaged rule sets (compiled once) → servicer → gRPC server."""

from __future__ import annotations

from elevins.validation.v1 import validation_pb2, validation_pb2_grpc
from services.validation.core.rules import load_rule_sets
from services.validation.servicer import ValidationServicer
from services.validation.settings import ValidationSettings
from shared.clock import Clock, SystemClock
from shared.grpc_server import GrpcApp, ServiceBinding

SERVICE_NAME = validation_pb2.DESCRIPTOR.services_by_name["ValidationService"].full_name
# Room for a 250,000-row batch of a dozen packed columns; a 10-million-row message is refused
# by gRPC itself (RESOURCE_EXHAUSTED) before it is ever held in memory.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024


def build_app(
    settings: ValidationSettings, *, clock: Clock | None = None, port: int | None = None
) -> GrpcApp:
    return GrpcApp(
        name="validation",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                validation_pb2_grpc.add_ValidationServiceServicer_to_server,
                ValidationServicer(load_rule_sets(), clock or SystemClock()),
            )
        ],
        grace_s=settings.grpc_shutdown_grace_s,
        metrics_port=settings.metrics_port,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
