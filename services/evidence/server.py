"""Wiring only: settings → engine, bucket → use cases (index loaded) → servicer → server, and
the background verifier of received uploads."""

from __future__ import annotations

from datetime import timedelta

from elevins.evidence.v1 import evidence_pb2, evidence_pb2_grpc
from services.evidence.metrics import UploadFiguresCollector
from services.evidence.objects import ObjectStore
from services.evidence.servicer import EvidenceServicer, map_error
from services.evidence.settings import EvidenceSettings
from services.evidence.usecases import EvidenceUseCases
from services.evidence.verifier import Verifier
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "evidence"
SERVICE_NAME = evidence_pb2.DESCRIPTOR.services_by_name["EvidenceService"].full_name
# A streamed upload arrives in 1 MiB chunks; anything bigger in one message is refused.
MAX_MESSAGE_BYTES = 2 * 1024 * 1024


def object_store(settings: EvidenceSettings) -> ObjectStore:
    if not (settings.s3_endpoint and settings.s3_bucket and settings.s3_secret_key):
        raise RuntimeError("evidence needs S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET")
    endpoint, secure = settings.s3_address()
    return ObjectStore(
        endpoint,
        settings.s3_access_key,
        settings.s3_secret_key.reveal(),
        settings.s3_bucket,
        secure=secure,
        timeout_s=settings.s3_timeout_s,
    )


def build_app(
    settings: EvidenceSettings, *, port: int | None = None, clock: Clock | None = None
) -> tuple[GrpcApp, EvidenceUseCases]:
    usecases = EvidenceUseCases(
        create_engine(settings.database_url, schema=SCHEMA),
        clock or SystemClock(),
        object_store(settings),
        upload_ttl=timedelta(seconds=settings.upload_ttl_s),
        download_ttl=timedelta(seconds=settings.download_ttl_s),
    )
    # Uploads by state and the verifier's lag: read from the database per scrape.
    figures = UploadFiguresCollector(usecases)
    app = GrpcApp(
        name="evidence",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                evidence_pb2_grpc.add_EvidenceServiceServicer_to_server,
                EvidenceServicer(usecases),
            )
        ],
        grace_s=settings.grpc_shutdown_grace_s,
        metrics_port=settings.metrics_port,
        metrics_refreshers=[figures.refresh],
        metrics_collectors=[figures],
        map_error=map_error,
        max_message_bytes=MAX_MESSAGE_BYTES,
    )
    app.on_start.append(usecases.start)
    if settings.verifier:
        verifier = Verifier(
            usecases,
            concurrency=settings.verify_concurrency,
            poll_s=settings.verify_poll_s,
            sweep_every_s=settings.sweep_every_s,
        )
        usecases.verifier = verifier
        app.on_start.append(verifier.start)
        app.on_stop.append(verifier.stop)
    app.on_stop.append(usecases.dispose)
    return app, usecases
