"""Server interceptors every service installs, outermost first: tracing, metrics, logging,
errors, deadline, auth.

Each one is an ``around`` coroutine wrapped onto the method handler by :class:`Around`, so the
four behaviours stay small and independent of the RPC's shape (unary or streaming).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

import grpc
from grpc_status import rpc_status

from shared.auth import Principal, bearer, set_principal, verify_token
from shared.errors import ServiceError, from_domain_error

log = logging.getLogger("elevins.rpc")

# What is reachable without a token: the health service, so that orchestrators (Kubernetes'
# native gRPC probes, devstack) can ask whether a server is up. Nothing else, reflection included.
PUBLIC_METHOD_PREFIXES = ("/grpc.health.v1.Health/",)

if TYPE_CHECKING:
    Context = grpc.aio.ServicerContext[Any, Any]
    _Interceptor = grpc.aio.ServerInterceptor[Any, Any]
    Handler = grpc.RpcMethodHandler[Any, Any]
else:
    Context = grpc.aio.ServicerContext
    _Interceptor = grpc.aio.ServerInterceptor
    Handler = grpc.RpcMethodHandler

Call = Callable[[Any, Context], Awaitable[Any]]
ErrorMapper = Callable[[Exception], ServiceError | None]


class Around(_Interceptor):
    """Runs ``around(method, call, request, context)`` in place of every handler; for a response
    stream, ``stream(...)`` — by default ``around`` opens the stream and its items pass through
    as they come (a reply is never held back until the client stops sending)."""

    async def around(self, method: str, call: Call, request: Any, context: Context) -> Any:
        return await call(request, context)

    async def stream(
        self, method: str, open_stream: Call, request: Any, context: Context
    ) -> AsyncIterator[Any]:
        items = await self.around(method, open_stream, request, context)
        async for item in items:
            yield item

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        handler: Any = await continuation(details)
        if not handler:  # an unknown method: let grpc answer UNIMPLEMENTED
            return handler  # type: ignore[no-any-return]
        method = details.method

        def unary(inner: Call) -> Call:
            async def wrapped(request: Any, context: Context) -> Any:
                return await self.around(method, inner, request, context)

            return wrapped

        def streaming(
            inner: Callable[..., AsyncIterator[Any]],
        ) -> Callable[..., AsyncIterator[Any]]:
            async def wrapped(request: Any, context: Context) -> AsyncIterator[Any]:
                async def open_stream(req: Any, ctx: Context) -> AsyncIterator[Any]:
                    return inner(req, ctx)

                async for item in self.stream(method, open_stream, request, context):
                    yield item

            return wrapped

        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                streaming(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            streaming(handler.stream_stream),
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


class ErrorInterceptor(Around):
    """ServiceError and domain errors become rich statuses; anything else is INTERNAL.

    Every service's domain errors map by their kind (``from_domain_error``); a service may pass
    a mapper of its own for exceptions that are not domain errors."""

    def __init__(self, map_error: ErrorMapper | None = None) -> None:
        self._map_error = map_error or from_domain_error

    async def around(self, method: str, call: Call, request: Any, context: Context) -> Any:
        try:
            return await call(request, context)
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._answer(method, exc, context)

    async def stream(
        self, method: str, open_stream: Call, request: Any, context: Context
    ) -> AsyncIterator[Any]:
        try:
            async for item in super().stream(method, open_stream, request, context):
                yield item
        except (asyncio.CancelledError, grpc.aio.AbortError):
            raise
        except Exception as exc:
            await self._answer(method, exc, context)

    async def _answer(self, method: str, exc: Exception, context: Context) -> None:
        if isinstance(exc, ServiceError):
            await _abort(context, exc)
        mapped = self._map_error(exc) or _transient(exc)
        if mapped is None:
            log.exception("unhandled error in %s", method, exc_info=exc)
            await context.abort(grpc.StatusCode.INTERNAL, "internal error")
        else:
            await _abort(context, mapped)


def _transient(exc: Exception) -> ServiceError | None:
    """A lost database connection is the infrastructure's hiccup, not a bug: ask for a retry."""
    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return ServiceError(
            grpc.StatusCode.UNAVAILABLE, "DATABASE_UNAVAILABLE", "database connection lost; retry"
        )
    return None


async def _abort(context: Context, error: ServiceError) -> None:
    status = rpc_status.to_status(error.to_status())
    await context.abort(status.code, status.details, status.trailing_metadata)


class Observer(Around):
    """Calls :meth:`finished` once per call, when it ends, however it ends (a whole stream for
    a streaming call): the base of the logging and metrics interceptors."""

    def finished(
        self, method: str, context: Context, started: float, error: BaseException | None
    ) -> None:
        raise NotImplementedError

    async def around(self, method: str, call: Call, request: Any, context: Context) -> Any:
        started = time.perf_counter()
        error: BaseException | None = None
        try:
            return await call(request, context)
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.finished(method, context, started, error)

    async def stream(
        self, method: str, open_stream: Call, request: Any, context: Context
    ) -> AsyncIterator[Any]:
        started = time.perf_counter()  # the whole stream, not only its opening
        error: BaseException | None = None
        try:
            async for item in open_stream_items(open_stream, request, context):
                yield item
        except BaseException as exc:
            error = exc
            raise
        finally:
            self.finished(method, context, started, error)


class LoggingInterceptor(Observer):
    """One line per call: method, caller, status code and duration; never the payload."""

    def finished(
        self, method: str, context: Context, started: float, error: BaseException | None
    ) -> None:
        _log_call(method, context, started, error)


async def open_stream_items(
    open_stream: Call, request: Any, context: Context
) -> AsyncIterator[Any]:
    async for item in await open_stream(request, context):
        yield item


def status_of(context: Context, error: BaseException | None = None) -> grpc.StatusCode:
    """The status the client gets for a call that ended with ``error`` (None: returned).

    Read outside the error interceptor: by then a domain error has become an abort, which
    set the code on the context.
    """
    code = context.code()
    if isinstance(code, int):  # aio contexts may report the raw integer
        code = _CODES_BY_VALUE.get(code, grpc.StatusCode.UNKNOWN)
    if code is not None:
        return code
    if error is None:
        return grpc.StatusCode.OK
    if isinstance(error, asyncio.CancelledError):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.UNKNOWN  # what grpc answers for an exception nobody handled


def _log_call(
    method: str, context: Context, started: float, error: BaseException | None = None
) -> None:
    code = status_of(context, error)
    # Health probes arrive every few seconds from orchestrators: keep them out of INFO.
    level = logging.DEBUG if method.startswith(PUBLIC_METHOD_PREFIXES) else logging.INFO
    log.log(
        level,
        "rpc %s %s",
        method,
        code.name,
        extra={
            "rpc_method": method,
            "rpc_code": code.name,
            "duration_ms": round((time.perf_counter() - started) * 1000, 2),
        },
    )


_CODES_BY_VALUE = {c.value[0]: c for c in grpc.StatusCode}


class DeadlineInterceptor(Around):
    """Every call has a deadline: a client that sets none gets the server's default."""

    def __init__(self, default_seconds: float) -> None:
        self._default = default_seconds

    async def around(self, method: str, call: Call, request: Any, context: Context) -> Any:
        remaining = context.time_remaining()
        budget = self._default if remaining is None else min(remaining, self._default)
        try:
            async with asyncio.timeout(budget):
                return await call(request, context)
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "deadline exceeded")


class AuthInterceptor(Around):
    """Verifies the bearer token and makes the caller's :class:`Principal` current."""

    def __init__(self, keys: Mapping[str, bytes]) -> None:
        self._keys = dict(keys)

    async def around(self, method: str, call: Call, request: Any, context: Context) -> Any:
        if method.startswith(PUBLIC_METHOD_PREFIXES):
            return await call(request, context)
        token = bearer(context.invocation_metadata())
        if token is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "missing 'authorization: Bearer <token>' metadata"
            )
        principal: Principal
        try:
            principal = verify_token(str(token), self._keys)
        except ServiceError as error:
            await _abort(context, error)
        set_principal(principal)
        return await call(request, context)


def standard_interceptors(
    *, keys: Mapping[str, bytes], default_deadline_s: float, map_error: ErrorMapper | None
) -> list[_Interceptor]:
    from opentelemetry.instrumentation.grpc import aio_server_interceptor

    from shared.metrics import MetricsInterceptor

    return [
        aio_server_interceptor(),  # type: ignore[no-untyped-call]
        # Metrics and logging outside the error interceptor: they see the status the client
        # gets (a domain error already mapped to its code), not an exception in flight.
        MetricsInterceptor(),
        LoggingInterceptor(),
        ErrorInterceptor(map_error),
        DeadlineInterceptor(default_deadline_s),
        AuthInterceptor(keys),
    ]
