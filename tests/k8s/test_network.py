"""NetworkPolicy, evaluated: the flows the rendered policies allow are exactly the ones the
architecture names, between every pair of pods in the namespace."""

from __future__ import annotations

from typing import Any

import pytest

from tests.k8s.manifests import (
    ENVIRONMENTS,
    Resource,
    container_port,
    direction_allows,
    env_of,
    flow_allowed,
    main_container,
    named,
    of_kind,
    pod_labels,
    selects,
    service_deployments,
    serving_port,
    settings_fields,
)

# Who calls whom (ARCHITECTURE.md, narrowed to what the code calls: the web UI reads and
# acts through five services, services/web/clients.py). Nothing else calls a service.
CALLS: dict[str, frozenset[str]] = {
    "web": frozenset({"claims", "evidence", "contractors", "policy", "pricing"}),
    "claims": frozenset({"policy", "validation", "pricing", "evidence", "contractors"}),
    "exchange": frozenset({"claims", "policy", "validation"}),
}
# Only evidence calls S3; every other service and every migration has no route to it (the
# web UI's browsers use presigned URLs, never the web pods).
S3_CALLERS = frozenset({"evidence"})
# Where the ingress controller runs (Traefik, services/web/app/ingress.yaml): it may reach the
# web UI's HTTP port, and nothing else.
INGRESS_CONTROLLER_NAMESPACE = {"kubernetes.io/metadata.name": "traefik"}
# The platform's pods, with the labels their operators or manifests give them.
POSTGRES = {"cnpg.io/cluster": "elevins-db", "cnpg.io/instanceRole": "primary"}
PLATFORM_PORTS = {"postgres": 5432, "minio": 9000, "otel-collector": 4317}


def _pods(resources: list[Resource]) -> dict[str, tuple[dict[str, str], int]]:
    """name → (pod labels, the port it serves) for every pod kind in the namespace."""
    pods = {
        name: (pod_labels(d), serving_port(main_container(d))[1])
        for name, d in service_deployments(resources).items()
    }
    pods["postgres"] = (POSTGRES, PLATFORM_PORTS["postgres"])
    pods["minio"] = (pod_labels(named(resources, "StatefulSet", "minio")), 9000)
    pods["otel-collector"] = (pod_labels(named(resources, "Deployment", "otel-collector")), 4317)
    pods["migration"] = (
        {"app.kubernetes.io/component": "migration", "app.kubernetes.io/part-of": "elevins"},
        0,  # serves nothing
    )
    return pods


def _expected(source: str, destination: str, services: set[str]) -> bool:
    if source in services and destination in services:
        return destination in CALLS.get(source, frozenset())
    if destination == "minio":
        return source in S3_CALLERS or source == "postgres"  # photos; backups
    if source in services | {"migration"}:
        return destination in {"postgres", "otel-collector"}
    if source == "postgres":
        return destination in {"postgres", "minio"}  # replication; backups
    return False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_named_flows_are_allowed(rendered, env: str) -> None:

    resources = rendered[env]
    policies = of_kind(resources, "NetworkPolicy")
    named(resources, "Namespace", _ns(env))
    namespace = {"kubernetes.io/metadata.name": _ns(env)}  # the label Kubernetes gives it
    pods = _pods(resources)
    services = set(service_deployments(resources))
    wrong = []
    for source, (source_labels, _) in pods.items():
        for destination, (destination_labels, port) in pods.items():
            if source == destination or not port:
                continue
            allowed = flow_allowed(policies, namespace, source_labels, destination_labels, port)
            if allowed != _expected(source, destination, services):
                wrong.append(
                    f"{source} → {destination}:{port} {'allowed' if allowed else 'denied'}"
                )
    assert wrong == []


def _ns(env: str) -> str:
    return {"dev": "elevins-dev", "prod": "elevins"}[env]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_default_deny_and_dns(rendered, env: str) -> None:
    resources = rendered[env]
    deny = named(resources, "NetworkPolicy", "default-deny-all")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = named(resources, "NetworkPolicy", "allow-dns")["spec"]
    assert dns["podSelector"] == {}
    (rule,) = dns["egress"]
    assert {(p["port"], p["protocol"]) for p in rule["ports"]} == {(53, "UDP"), (53, "TCP")}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_has_its_own_policy(rendered, env: str) -> None:
    resources = rendered[env]
    for service, deployment in service_deployments(resources).items():
        policy = named(resources, "NetworkPolicy", service)["spec"]
        assert selects(policy["podSelector"], pod_labels(deployment))
        assert policy["policyTypes"] == ["Ingress", "Egress"]
        # It names only services the architecture lets it talk to (and S3, for its caller).
        allowed = CALLS.get(service, frozenset()) | ({"minio"} if service in S3_CALLERS else set())
        for rule in policy.get("egress") or []:
            for peer in rule["to"]:
                callee = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                assert callee in allowed, (service, callee)
        # ...and lets in only its callers: no stale name that one day would open a flow.
        callers = {s for s, callees in CALLS.items() if service in callees}
        for rule in policy.get("ingress") or []:
            for peer in rule["from"]:
                if "podSelector" in peer:
                    assert _names(peer["podSelector"]) <= callers, service


def _names(selector: dict[str, Any]) -> set[str]:
    """The app.kubernetes.io/name values a pod selector accepts (by label or by `In`)."""
    labels = selector.get("matchLabels") or {}
    names = {labels["app.kubernetes.io/name"]} if "app.kubernetes.io/name" in labels else set()
    for expression in selector.get("matchExpressions") or []:
        assert expression["key"] == "app.kubernetes.io/name" and expression["operator"] == "In"
        names |= set(expression["values"])
    assert names, f"a selector that names no service: {selector}"
    return names


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_a_service_calls_exactly_the_services_whose_address_it_reads(rendered, env: str) -> None:
    """A service's callees are its settings' <NAME>_ADDR variables: the network lets it reach
    those and only those, and the manifest sets every one (their defaults are loopback, which
    in a pod reaches nothing)."""
    deployments = service_deployments(rendered[env])
    for service, deployment in deployments.items():
        read = {
            v.removesuffix("_ADDR").lower() for v in settings_fields(service) if v.endswith("_ADDR")
        }
        assert read == CALLS.get(service, frozenset()), service
        manifest = {v for v in env_of(main_container(deployment)) if v.endswith("_ADDR")}
        assert manifest == {f"{callee.upper()}_ADDR" for callee in read}, service


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_ingress_controller_reaches_the_ui_and_nothing_else(rendered, env: str) -> None:
    """From the controller's namespace (its pods' own egress is that namespace's business):
    the web UI's HTTP port is open; its metrics port and every other pod's ports are not."""
    resources = rendered[env]
    policies = of_kind(resources, "NetworkPolicy")
    controller = {"app.kubernetes.io/name": "traefik"}
    opened = set()
    for name, (labels, port) in _pods(resources).items():
        for candidate in {port, 9464} - {0}:
            if direction_allows(
                policies, "Ingress", labels, controller, INGRESS_CONTROLLER_NAMESPACE, candidate
            ):
                opened.add((name, candidate))
    web = main_container(service_deployments(resources)["web"])
    assert opened == {("web", container_port(web, "http"))}
