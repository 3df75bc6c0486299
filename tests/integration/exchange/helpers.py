"""Partners for the exchange tests: registration, tokens, CSV files and a fake partner inbox."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from elevins.exchange.v1 import exchange_pb2 as pb
from elevins.exchange.v1 import exchange_pb2_grpc
from services.exchange.domain.signing import sign
from tests.integration.policy.helpers import meta


def rid() -> str:
    return uuid.uuid4().hex


async def register(
    stub: exchange_pb2_grpc.ExchangeServiceStub,
    mint: Callable[..., str],
    partner_id: str,
    *,
    kind: str,
    feeds: tuple[str, ...] = (),
    regions: tuple[str, ...] = ("4302",),
    inbox_addr: str = "",
    topics: tuple[str, ...] = (),
    outbound_version: int = 1,
) -> None:
    await stub.RegisterPartner(
        pb.RegisterPartnerRequest(
            request_id=rid(),
            partner=pb.Partner(
                partner_id=partner_id,
                name=f"测试 {partner_id}",
                kind=kind,
                regions=list(regions),
                feeds=list(feeds),
                inbox_addr=inbox_addr,
                topics=list(topics),
                outbound_version=outbound_version,
            ),
        ),
        metadata=meta(mint("service", subject="svc-test")),
    )


def csv_bytes(header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig") -> bytes:
    lines = [",".join(header), *(",".join(r) for r in rows)]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


async def import_file(stub, md, *, kind: str, fmt: str, data: bytes, request_id: str = ""):
    """Streams ``data`` in small chunks; (every progress report, the final one)."""

    async def messages():
        yield pb.ImportFileRequest(
            header=pb.ImportFileHeader(
                request_id=request_id or rid(), kind=kind, format=fmt, file_name="导出.csv"
            )
        )
        for at in range(0, len(data), 4096):
            yield pb.ImportFileRequest(chunk=data[at : at + 4096])

    replies = [r async for r in stub.ImportFile(messages(), metadata=md)]
    assert replies and replies[-1].final and all(not r.final for r in replies[:-1])
    return replies, replies[-1].report


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class FakePartner(exchange_pb2_grpc.PartnerInboxServiceServicer):
    """A partner's inbox: checks our signature, keeps what it got, ignores repeats by dedup id."""

    secret: bytes
    received: list[pb.DeliverRequest] = field(default_factory=list)
    bad_signatures: int = 0
    server: grpc.aio.Server | None = None

    async def Deliver(self, request: pb.DeliverRequest, context) -> pb.DeliverResponse:
        md = dict(context.invocation_metadata())
        timestamp = int(md["x-elevins-timestamp"])
        expected = sign(
            self.secret, timestamp, f"{request.dedup_id}.{request.payload_json}".encode()
        )
        if md["x-elevins-signature"] != expected:
            self.bad_signatures += 1
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "bad signature")
        duplicate = any(r.dedup_id == request.dedup_id for r in self.received)
        self.received.append(request)
        return pb.DeliverResponse(duplicate=duplicate)

    async def start(self, port: int) -> None:
        self.server = grpc.aio.server()
        exchange_pb2_grpc.add_PartnerInboxServiceServicer_to_server(self, self.server)
        assert self.server.add_insecure_port(f"127.0.0.1:{port}") == port
        await self.server.start()

    async def stop(self) -> None:
        if self.server is not None:
            await self.server.stop(None)
