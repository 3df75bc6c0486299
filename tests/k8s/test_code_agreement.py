"""The manifests say what the code reads: the same variables, ports, commands and health check.

The code side comes from the services themselves: each settings class (services/<name>/
settings.py on top of shared/settings.py) lists the variables it reads, their defaults and
which are required; `__main__.py` lists the subcommands. A variable in a manifest that no code
reads is a mistake (a typo, or a setting that was renamed) and fails here.
"""

from __future__ import annotations

from typing import Any

import opentelemetry.sdk.environment_variables as otel_variables
import pytest

from shared.interceptors import PUBLIC_METHOD_PREFIXES
from shared.settings import SettingsError
from shared.telemetry import EXPORTERS
from tests.k8s.manifests import (
    ENVIRONMENTS,
    container_port,
    default_port,
    env_of,
    main_container,
    named,
    pod_labels,
    pod_spec,
    required_variables,
    selects,
    service_deployments,
    services_with_server,
    serving_port,
    settings_class,
    settings_fields,
    subcommands,
)

SERVICES = services_with_server()
# Variables read by the OpenTelemetry SDK and its OTLP exporter themselves (shared/telemetry.py
# hands them over): every name the SDK defines, taken from the SDK.
OTEL_SDK_VARIABLES = {name for name in vars(otel_variables) if name.startswith("OTEL_")}
# A stand-in for a secretKeyRef, so that the settings can load what the manifest describes.
SECRET_PLACEHOLDER = "00" * 32


def _environment(container: dict[str, Any]) -> dict[str, str]:
    return {
        name: entry.get("value", SECRET_PLACEHOLDER) for name, entry in env_of(container).items()
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_every_variable_is_read_by_the_code(rendered, env: str, service: str) -> None:
    container = main_container(service_deployments(rendered[env])[service])
    read = set(settings_fields(service)) | OTEL_SDK_VARIABLES
    unread = set(env_of(container)) - read
    assert not unread, f"{service}: no code reads {sorted(unread)}"
    assert required_variables(service) <= set(env_of(container))


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_settings_load_from_the_manifest(rendered, env: str, service: str) -> None:
    """Types too: "10" is a float, "otlp" an exporter, INFO a level (secrets stubbed)."""
    container = main_container(service_deployments(rendered[env])[service])
    try:
        settings = settings_class(service).from_env(_environment(container))
    except SettingsError as error:
        pytest.fail(str(error))
    assert set(settings.otel_traces_exporter.split(",")) <= EXPORTERS
    # Listening on the pod's address, not loopback (the settings' safe default).
    assert settings.bind_host == "0.0.0.0"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_ports_agree_with_the_settings(rendered, env: str, service: str) -> None:
    deployment = service_deployments(rendered[env])[service]
    container = main_container(deployment)
    protocol, port = serving_port(container)  # gRPC, or HTTP for the web UI
    # <NAME>_PORT is the variable the settings read for `port` (and its default, the port
    # ARCHITECTURE.md gives): the manifest says it explicitly, and agrees.
    (variable,) = (var for var, f in settings_fields(service).items() if f.name == "port")
    assert int(env_of(container)[variable]["value"]) == port == default_port(service)
    # The Service in front of it routes its port to that container port, by name.
    (service_port,) = named(rendered[env], "Service", service)["spec"]["ports"]
    assert (service_port["port"], service_port["targetPort"]) == (port, protocol)
    assert service_port["appProtocol"] == protocol


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_addresses_point_at_the_right_service_and_port(rendered, env: str) -> None:
    """`<NAME>_ADDR=name:port` (claims → policy, pricing, validation…): a Service of ours, on
    the port that service really listens on."""
    deployments = service_deployments(rendered[env])
    checked = 0
    for service, deployment in deployments.items():
        for variable, entry in env_of(main_container(deployment)).items():
            if not variable.endswith("_ADDR"):
                continue
            host, _, port = entry["value"].partition(":")
            assert variable == f"{host.upper()}_ADDR", variable
            assert host in deployments, f"{service}: {variable} names no deployed service"
            assert int(port) == container_port(main_container(deployments[host]), "grpc")
            checked += 1
    assert checked >= 3  # claims reaches policy, pricing and validation today


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_collector_is_where_the_services_send_spans(rendered, env: str) -> None:
    collector = named(rendered[env], "Service", "otel-collector")
    grpc_port = next(p["port"] for p in collector["spec"]["ports"] if p["name"] == "otlp-grpc")
    for deployment in service_deployments(rendered[env]).values():
        variables = env_of(main_container(deployment))
        assert variables["OTEL_TRACES_EXPORTER"]["value"] == "otlp"
        endpoint = variables["OTEL_EXPORTER_OTLP_ENDPOINT"]["value"]
        assert endpoint == f"http://otel-collector:{grpc_port}"


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_commands_are_subcommands_the_service_has(rendered, env: str, service: str) -> None:
    deployment = service_deployments(rendered[env])[service]
    assert main_container(deployment)["command"] == ["python", "-m", f"services.{service}", "serve"]
    assert "serve" in subcommands(service)
    for job in rendered[f"{env}/migrate"]:
        command = pod_spec(job)["containers"][0]["command"]
        name = command[2].removeprefix("services.")
        assert command == ["python", "-m", f"services.{name}", "migrate"]
        assert "migrate" in subcommands(name)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_migrations_get_the_same_database_and_key_as_their_service(rendered, env: str) -> None:
    deployments = service_deployments(rendered[env])
    for job in rendered[f"{env}/migrate"]:
        service = job["metadata"]["labels"]["app.kubernetes.io/name"]
        job_env = env_of(pod_spec(job)["containers"][0])
        service_env = env_of(main_container(deployments[service]))
        for variable in required_variables(service):
            assert job_env[variable] == service_env[variable], (service, variable)
        assert set(job_env) <= set(settings_fields(service))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_web_pages_allow_the_object_store_evidence_signs_for(rendered, env: str) -> None:
    """The browser loads and uploads photos at the presigned URLs evidence makes, so the
    origin the web's Content-Security-Policy allows (its S3_ENDPOINT) must be evidence's."""
    deployments = service_deployments(rendered[env])
    web = settings_class("web").from_env(_environment(main_container(deployments["web"])))
    evidence = _environment(main_container(deployments["evidence"]))
    assert web.s3_endpoint == evidence["S3_ENDPOINT"]
    assert not web.s3_secure  # evidence signs plain-HTTP URLs (services/evidence/objects.py)
    # ...and it needs no credentials for it: the web never calls S3 itself.
    assert not {"S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET"} & set(
        env_of(main_container(deployments["web"]))
    )


def test_probes_need_no_token() -> None:
    """The kubelet's gRPC probe sends no metadata: the health service must be public."""
    assert "/grpc.health.v1.Health/" in PUBLIC_METHOD_PREFIXES


@pytest.mark.parametrize("env", ENVIRONMENTS)
@pytest.mark.parametrize("service", SERVICES)
def test_the_metrics_port_is_served_declared_and_scrapeable(rendered, env: str, service: str):
    container = main_container(service_deployments(rendered[env])[service])
    port = container_port(container, "metrics")
    assert int(env_of(container)["METRICS_PORT"]["value"]) == port  # what the code binds
    scrape = named(rendered[env], "NetworkPolicy", "prometheus-scrapes-elevins")
    (rule,) = scrape["spec"]["ingress"]
    assert [p["port"] for p in rule["ports"]] == [port]
    assert selects(
        scrape["spec"]["podSelector"], pod_labels(service_deployments(rendered[env])[service])
    )
