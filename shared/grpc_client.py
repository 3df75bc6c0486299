"""Channels from one service to another, traced.

Every channel a service opens to another goes through :func:`channel`, so that each call is a
client span and carries the W3C ``traceparent`` of the span it is made in: the callee's server
span then becomes its child, and one adjudication is one trace across the services. With the
exporter set to ``none`` the interceptors still propagate incoming context (the log lines of
the callee keep the caller's trace id) and cost a few microseconds per call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import grpc

__all__ = ["channel"]


def channel(addr: str, *, options: Sequence[tuple[str, Any]] | None = None) -> grpc.aio.Channel:
    """An insecure (in-cluster, loopback) aio channel to ``addr`` with the tracing interceptors."""
    from opentelemetry.instrumentation.grpc import aio_client_interceptors

    return grpc.aio.insecure_channel(
        addr,
        options=list(options) if options else None,
        interceptors=aio_client_interceptors(),  # type: ignore[no-untyped-call]
    )
