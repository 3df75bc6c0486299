"""A bare gRPC echo server: the floor any unary RPC on this machine stands on.

One unary method, ``/elevins.bench.Echo/Echo``, answers the request's bytes unchanged. It is
mounted with a generic handler and no (de)serialisers, so no proto is needed and nothing but
gRPC itself is measured: no protobuf parsing, no interceptors (unless asked for), no work.
Served the way ``shared.grpc_server.GrpcApp`` serves a service (``grpc.aio.server`` on the
running event loop, same options), so a service benchmarked beside it differs only in what
the service does.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

SERVICE = "elevins.bench.Echo"
METHOD = f"/{SERVICE}/Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
    return request


def echo_handler() -> grpc.GenericRpcHandler[bytes, bytes]:
    """The echo method as a generic handler: bytes in, the same bytes out."""
    return grpc.method_handlers_generic_handler(
        SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
    )


async def start_echo_server(
    bind: str = "127.0.0.1:0",
    *,
    interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = (),
) -> tuple[grpc.aio.Server, int]:
    """Serve the echo method on ``bind`` on the running loop; (server, bound port)."""
    server = grpc.aio.server(
        interceptors=list(interceptors) or None, options=[("grpc.so_reuseport", 0)]
    )
    server.add_generic_rpc_handlers((echo_handler(),))
    port = server.add_insecure_port(bind)
    if port == 0:
        raise RuntimeError(f"echo: cannot bind {bind}")
    await server.start()
    return server, port


def echo_callable(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, bytes]:
    """The client side: call it with bytes, get the same bytes back."""
    return channel.unary_unary(METHOD, request_serializer=None, response_deserializer=None)
