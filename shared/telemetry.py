"""OpenTelemetry tracing: where a service's spans go.

``OTEL_TRACES_EXPORTER`` (read into the settings) chooses, as in the OpenTelemetry spec:

* ``none`` (the default, and what unit tests use): no SDK, spans are not recorded. Incoming
  trace context is still propagated, so log lines keep the caller's trace id.
* ``otlp``: OTLP over gRPC to ``OTEL_EXPORTER_OTLP_ENDPOINT`` (default ``localhost:4317``). The
  exporter reads the other standard ``OTEL_EXPORTER_OTLP_*`` variables itself.
* ``console``: each finished span printed to stdout as JSON.
* ``file``: one JSON object per finished span, appended to ``ELEVINS_TRACE_FILE`` (default
  ``build/traces/<service>.jsonl``), for a developer to read or ``grep`` by trace id without
  running a collector. Each line has ``trace_id``, ``span_id`` and ``parent_span_id``.

Several can be combined with commas (``file,otlp``). Instrumenting gRPC, SQLAlchemy and aiohttp
is done where those are wired; this module only sets up the provider. Call
:func:`configure_telemetry` once at startup and :func:`shutdown_telemetry` at exit, so that the
last spans are flushed. Modules get their tracer with :func:`tracer` at import time: it follows
the provider configured later.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_NAMESPACE, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

__all__ = [
    "EXPORTERS",
    "JsonLinesSpanExporter",
    "TelemetrySettings",
    "annotate",
    "configure_telemetry",
    "default_trace_file",
    "shutdown_telemetry",
    "span_to_dict",
    "tracer",
]

EXPORTERS = frozenset({"none", "otlp", "console", "file"})
NAMESPACE = "elevins"


class TelemetrySettings(Protocol):
    """The part of the settings this module reads (``shared.settings.CommonSettings`` has it)."""

    @property
    def otel_traces_exporter(self) -> str: ...

    @property
    def trace_file(self) -> Path | None: ...


_lock = threading.Lock()
_provider: TracerProvider | None = None
_global_set = False


def configure_telemetry(
    service_name: str, settings: TelemetrySettings, *, set_global: bool = True
) -> TracerProvider | None:
    """Set up the tracer provider for ``service_name``; None when the exporter is ``none``.

    ``set_global=False`` builds the provider without installing it process-wide (tests): the
    OpenTelemetry API allows the global provider to be set only once per process, so a second
    global configuration is refused rather than silently ignored.
    """
    global _provider, _global_set
    names = _exporter_names(settings.otel_traces_exporter)
    if not names:
        return None
    resource = Resource.create({SERVICE_NAME: service_name, SERVICE_NAMESPACE: NAMESPACE})
    provider = TracerProvider(resource=resource)
    for name in names:
        exporter = _exporter(name, service_name, settings.trace_file)
        provider.add_span_processor(BatchSpanProcessor(exporter))
    with _lock:
        if set_global:
            if _global_set:
                provider.shutdown()
                raise RuntimeError("telemetry is already configured for this process")
            trace.set_tracer_provider(provider)
            _global_set = True
        _provider = provider
    return provider


def shutdown_telemetry(timeout_s: float = 5.0) -> None:
    """Flush the spans still buffered and stop the exporters; safe to call when not configured."""
    global _provider
    with _lock:
        provider, _provider = _provider, None
    if provider is not None:
        provider.force_flush(timeout_millis=int(timeout_s * 1000))
        provider.shutdown()


def tracer(name: str) -> trace.Tracer:
    """A tracer named after the calling module (``tracer(__name__)``).

    It may be taken at import time, before :func:`configure_telemetry`: the API hands out a
    proxy that starts recording once a provider is installed.
    """
    return trace.get_tracer(name)


Attribute = str | bool | int | float


def annotate(**attributes: Attribute) -> None:
    """Put ``elevins.<name>`` attributes on the current span: ``annotate(claim_id=...)``.

    The business keys (claim id, upload id) are what a person searches traces by; naming them
    in one namespace keeps them apart from the semantic-convention attributes. A no-op when no
    span is being recorded.
    """
    span = trace.get_current_span()
    if span.is_recording():
        span.set_attributes({f"{NAMESPACE}.{name}": value for name, value in attributes.items()})


def default_trace_file(service_name: str) -> Path:
    return Path("build") / "traces" / f"{service_name}.jsonl"


def _exporter_names(value: str) -> list[str]:
    names = [n.strip().lower() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise ValueError(
            f"OTEL_TRACES_EXPORTER: unknown exporter(s) {', '.join(unknown)}; "
            f"use {', '.join(sorted(EXPORTERS))}"
        )
    if "none" in names and len(names) > 1:
        raise ValueError(f"OTEL_TRACES_EXPORTER: 'none' cannot be combined ({value!r})")
    return [n for n in dict.fromkeys(names) if n != "none"]


def _exporter(name: str, service_name: str, trace_file: Path | None) -> SpanExporter:
    if name == "otlp":
        # Imported here: it pulls in grpc and protobuf, which a service using `file` or `none`
        # has no reason to load.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter(service_name=service_name)
    return JsonLinesSpanExporter(trace_file or default_trace_file(service_name))


class JsonLinesSpanExporter(SpanExporter):
    """Appends each finished span to a file as one line of JSON.

    The file is opened once; writes from the batch processor's thread are serialised and
    flushed per batch, so a line is complete or absent even if the process is killed.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: TextIO | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        text = "".join(
            json.dumps(span_to_dict(s), ensure_ascii=False, default=str) + "\n" for s in spans
        )
        with self._lock:
            if self._file is None:
                return SpanExportResult.FAILURE
            self._file.write(text)
            self._file.flush()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True  # every export is flushed already

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


def span_to_dict(span: ReadableSpan) -> dict[str, Any]:
    """A finished span as a flat, readable dict: hex ids, UTC times, duration in ms."""
    ctx = span.get_span_context()
    start, end = span.start_time or 0, span.end_time or 0
    return {
        "name": span.name,
        "service": span.resource.attributes.get(SERVICE_NAME),
        "trace_id": f"{ctx.trace_id:032x}" if ctx else None,
        "span_id": f"{ctx.span_id:016x}" if ctx else None,
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "kind": span.kind.name,
        "start": _iso(start),
        "end": _iso(end),
        "duration_ms": round((end - start) / 1e6, 3),
        "status": span.status.status_code.name,
        "status_description": span.status.description,
        "attributes": dict(span.attributes or {}),
        "events": [
            {"name": e.name, "ts": _iso(e.timestamp), "attributes": dict(e.attributes or {})}
            for e in span.events
        ],
        "links": [
            {"trace_id": f"{link.context.trace_id:032x}", "span_id": f"{link.context.span_id:016x}"}
            for link in span.links
        ],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
    }


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    moment = datetime.fromtimestamp(seconds, UTC).replace(microsecond=rest // 1000)
    return moment.isoformat(timespec="microseconds")
