"""NetworkPolicy, evaluated: the flows the rendered policies allow are exactly the ones the
architecture names, between every pair of pods in the namespace."""

from __future__ import annotations

import pytest

from tests.k8s.manifests import (
    ENVIRONMENTS,
    Resource,
    container_port,
    flow_allowed,
    main_container,
    named,
    of_kind,
    pod_labels,
    selects,
    service_deployments,
)

# Who calls whom (ARCHITECTURE.md; the flows). Services not deployed yet are named
# here too, so that their rules are right the day they arrive.
ALL_SERVICES = frozenset(
    {"policy", "claims", "pricing", "evidence", "validation", "contractors", "exchange", "web"}
)
CALLS: dict[str, frozenset[str]] = {
    "web": ALL_SERVICES - {"web"},
    "claims": frozenset({"policy", "validation", "pricing", "evidence", "contractors"}),
    "exchange": frozenset({"claims", "policy", "validation"}),
}
# The platform's pods, with the labels their operators or manifests give them.
POSTGRES = {"cnpg.io/cluster": "elevins-db", "cnpg.io/instanceRole": "primary"}
PLATFORM_PORTS = {"postgres": 5432, "minio": 9000, "otel-collector": 4317}


def _pods(resources: list[Resource]) -> dict[str, tuple[dict[str, str], int]]:
    """name → (pod labels, the port it serves) for every pod kind in the namespace."""
    pods = {
        name: (pod_labels(d), container_port(main_container(d), "grpc"))
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
    if source in services | {"migration"}:
        return destination in {"postgres", "minio", "otel-collector"}
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
        # It names only services the architecture lets it talk to.
        for rule in policy.get("egress") or []:
            for peer in rule["to"]:
                callee = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                assert callee in CALLS.get(service, frozenset()), (service, callee)
