"""Wiring only: settings → engine → formats → upstream clients → servicer → gRPC server
(+ the relay: outbox pulls, deliveries due, queued alarms)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import grpc

from elevins.exchange.v1 import exchange_pb2, exchange_pb2_grpc
from services.exchange.clients import (
    CHANNEL_OPTIONS,
    ClaimsClient,
    PartnerInboxes,
    PolicyClient,
    ValidationClient,
)
from services.exchange.domain.formats import load_formats
from services.exchange.domain.notifications import RetryPolicy
from services.exchange.servicer import ExchangeServicer, map_error
from services.exchange.settings import ExchangeSettings
from services.exchange.usecases import ExchangeUseCases
from shared.auth import Role, mint_token, parse_keys
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.grpc_server import GrpcApp, ServiceBinding

SCHEMA = "exchange"
SERVICE_NAME = exchange_pb2.DESCRIPTOR.services_by_name["ExchangeService"].full_name
SERVICE_TOKEN_TTL_S = 365 * 24 * 3600
# A forwarded alarm's token lives for one call.
PARTNER_TOKEN_TTL_S = 300
MAX_MESSAGE_BYTES = 16 * 1024 * 1024  # 10,000 records per ImportRecords; file chunks

log = logging.getLogger("elevins.exchange")


def build_usecases(
    settings: ExchangeSettings, *, clock: Clock | None = None
) -> tuple[ExchangeUseCases, list[grpc.aio.Channel]]:
    key = settings.auth_key.reveal()
    token = mint_token(
        key,
        subject="svc-exchange",
        role=Role.SERVICE.value,
        regions=["*"],
        ttl_seconds=SERVICE_TOKEN_TTL_S,
    )
    channels = [
        grpc.aio.insecure_channel(addr, options=CHANNEL_OPTIONS)
        for addr in (settings.validation_addr, settings.claims_addr, settings.policy_addr)
    ]
    validation, claims, policy = channels

    def partner_token(subject: str, regions: object) -> str:
        return mint_token(
            key,
            subject=subject,
            role=Role.PARTNER.value,
            regions=list(regions),  # type: ignore[call-overload]
            ttl_seconds=PARTNER_TOKEN_TTL_S,
        )

    usecases = ExchangeUseCases(
        create_engine(settings.database_url, schema=SCHEMA),
        clock or SystemClock(),
        formats=load_formats(),
        validation=ValidationClient(validation, token),
        claims=ClaimsClient(claims, token),
        policy=PolicyClient(policy, token),
        inboxes=PartnerInboxes(),
        push_key=next(iter(parse_keys(key).values())),
        mint=partner_token,
        retry=RetryPolicy(settings.retry_base_s, settings.retry_max_s, settings.max_attempts),
        push_window_s=settings.push_window_s,
    )
    return usecases, channels


async def relay_round(usecases: ExchangeUseCases) -> int:
    """One pass: a page of each outbox, what is due, queued alarms; how much work it found.
    One page each, not the whole backlog: a long backlog must not hold deliveries back."""
    done = 0
    for source in ("claims", "policy"):
        done += await usecases.relay_once(source)
    done += await usecases.deliver_due()
    done += await usecases.retry_alarms()
    return done


def build_app(
    settings: ExchangeSettings, *, port: int | None = None, clock: Clock | None = None
) -> tuple[GrpcApp, ExchangeUseCases]:
    usecases, channels = build_usecases(settings, clock=clock)
    app = GrpcApp(
        name="exchange",
        bind=f"{settings.bind_host}:{settings.port if port is None else port}",
        auth_key=settings.auth_key.reveal(),
        bindings=[
            ServiceBinding(
                SERVICE_NAME,
                exchange_pb2_grpc.add_ExchangeServiceServicer_to_server,
                ExchangeServicer(
                    usecases,
                    batch_rows=settings.batch_rows,
                    max_file_bytes=settings.max_file_bytes,
                ),
            )
        ],
        map_error=map_error,
        default_deadline_s=settings.call_deadline_s,
        grace_s=settings.grpc_shutdown_grace_s,
        max_message_bytes=MAX_MESSAGE_BYTES,
        metrics_port=settings.metrics_port,
    )
    stopping = asyncio.Event()
    tasks: list[asyncio.Task[None]] = []

    async def relay_forever() -> None:
        # Cursors, deliveries and queued alarms live in the database: a restart loses nothing.
        while not stopping.is_set():
            busy = 0
            try:
                busy = await relay_round(usecases)
            except Exception as error:  # an upstream down: next round
                log.warning("relay round failed (%s); retrying", type(error).__name__)
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), settings.relay_poll_s)

    async def start() -> None:
        if settings.relay:
            tasks.append(asyncio.create_task(relay_forever()))

    async def stop() -> None:
        stopping.set()
        for task in tasks:
            await task
        await usecases.inboxes.close()
        for channel in channels:
            await channel.close(grace=None)
        await usecases.dispose()

    app.on_start.append(start)
    app.on_stop.append(stop)
    return app, usecases
