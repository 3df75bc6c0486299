import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.trace import Link, SpanKind, StatusCode

from shared import telemetry
from shared.settings import CommonSettings
from shared.telemetry import configure_telemetry, shutdown_telemetry, tracer

BASE_ENV = {"DATABASE_URL": "postgresql://x/y", "ELEVINS_AUTH_KEY": "k"}


def settings(exporter: str, trace_file: Path | None = None) -> CommonSettings:
    env = {**BASE_ENV, "OTEL_TRACES_EXPORTER": exporter}
    if trace_file is not None:
        env["ELEVINS_TRACE_FILE"] = str(trace_file)
    return CommonSettings.from_env(env)


@pytest.fixture(autouse=True)
def _shutdown():
    yield
    shutdown_telemetry()


def read_spans(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_none_sets_up_nothing():
    assert configure_telemetry("policy", settings("none")) is None
    assert configure_telemetry("policy", settings(" None ")) is None


def test_file_exporter_writes_finished_spans_with_parent_links(tmp_path):
    path = tmp_path / "traces" / "policy.jsonl"
    provider = configure_telemetry("policy", settings("file", path), set_global=False)
    assert provider is not None
    t = provider.get_tracer("services.policy.usecases")
    with t.start_as_current_span("CastVote", kind=SpanKind.SERVER) as parent:
        with t.start_as_current_span("db.insert", attributes={"db.rows": 3}) as child:
            child.add_event("conflict", {"request_id": "r-1"})
        with pytest.raises(ValueError), t.start_as_current_span("validate"):
            raise ValueError("quorum not reached")
    with t.start_as_current_span("linked", links=[Link(parent.get_span_context())]):
        pass
    shutdown_telemetry()

    spans = {s["name"]: s for s in read_spans(path)}
    assert set(spans) == {"CastVote", "db.insert", "validate", "linked"}
    root, insert, failed = spans["CastVote"], spans["db.insert"], spans["validate"]
    trace_id = f"{parent.get_span_context().trace_id:032x}"
    assert root["trace_id"] == insert["trace_id"] == failed["trace_id"] == trace_id
    assert root["span_id"] == f"{parent.get_span_context().span_id:016x}"
    assert root["parent_span_id"] is None
    assert insert["parent_span_id"] == failed["parent_span_id"] == root["span_id"]
    assert insert["span_id"] != root["span_id"]
    assert spans["linked"]["trace_id"] != trace_id  # a new trace, linked to the first
    assert spans["linked"]["links"] == [{"trace_id": trace_id, "span_id": root["span_id"]}]
    assert root["kind"] == "SERVER" and root["service"] == "policy"
    assert insert["attributes"] == {"db.rows": 3}
    assert insert["events"][0]["name"] == "conflict"
    assert failed["status"] == StatusCode.ERROR.name
    assert "quorum not reached" in failed["status_description"]
    assert root["scope"] == "services.policy.usecases"
    assert datetime.fromisoformat(root["start"]) <= datetime.fromisoformat(insert["start"])
    assert root["duration_ms"] >= insert["duration_ms"] >= 0


def test_file_exporter_appends_and_defaults_to_build_traces(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for run in range(2):
        provider = configure_telemetry("claims", settings("file"), set_global=False)
        assert provider is not None
        with provider.get_tracer("t").start_as_current_span(f"run-{run}"):
            pass
        shutdown_telemetry()
    spans = read_spans(tmp_path / "build" / "traces" / "claims.jsonl")
    assert [s["name"] for s in spans] == ["run-0", "run-1"]


def test_otlp_and_file_together_shut_down_promptly(tmp_path):
    # Nothing listens on the endpoint and no span is made: shutdown must not wait for it.
    provider = configure_telemetry(
        "pricing", settings("otlp, file", tmp_path / "t.jsonl"), set_global=False
    )
    assert provider is not None
    started = time.monotonic()
    shutdown_telemetry()
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("value", ["jaeger", "file,zipkin", "none,file"])
def test_unknown_or_contradictory_exporters_are_refused(value):
    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER"):
        configure_telemetry("policy", settings(value), set_global=False)


def test_tracer_without_configuration_records_nothing():
    with tracer("shared.test").start_as_current_span("x") as span:
        assert not span.is_recording()
    assert isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


def test_the_global_provider_is_installed_once(tmp_path, monkeypatch):
    # Stand in for the API's process-wide setter, so the test leaves no global state behind.
    installed: list[object] = []
    monkeypatch.setattr(trace, "set_tracer_provider", installed.append)
    monkeypatch.setattr(telemetry, "_global_set", False)
    provider = configure_telemetry("policy", settings("file", tmp_path / "t.jsonl"))
    assert installed == [provider]
    with pytest.raises(RuntimeError, match="already configured"):
        configure_telemetry("policy", settings("file", tmp_path / "t.jsonl"))
    assert installed == [provider]
