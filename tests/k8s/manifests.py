"""Reading the rendered manifests and the services' code side by side, for the k8s tests.

Everything here is plain functions over the dicts `k8s.render.build` returns; nothing needs a
cluster. The code side is read by importing each service's settings class (cheap: it imports
only `shared.settings`) and by parsing its `__main__.py` with `ast` (no import at all).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from shared.settings import CommonSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
SERVICES = ROOT / "services"
# The environments: the long-running overlay and its migration step.
ENVIRONMENTS = ("dev", "prod")

Resource = dict[str, Any]


# --- the code -----------------------------------------------------------------------------------


def services_with_server() -> list[str]:
    """Services that can run: those with a server.py (the rest are still being built)."""
    return sorted(p.parent.name for p in SERVICES.glob("*/server.py"))


def has_migrations(service: str) -> bool:
    return (SERVICES / service / "migrations").is_dir()


@cache
def settings_class(service: str) -> type[CommonSettings]:
    """The CommonSettings subclass defined in services/<service>/settings.py."""
    module = importlib.import_module(f"services.{service}.settings")
    found = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, CommonSettings)
        and obj.__module__ == module.__name__
    ]
    assert len(found) == 1, f"services/{service}/settings.py: expected one settings class"
    return found[0]


def settings_fields(service: str) -> dict[str, dataclasses.Field[Any]]:
    """Environment variable name → its dataclass field, for everything the service reads."""
    return {f.metadata["env"]: f for f in dataclasses.fields(settings_class(service))}


def required_variables(service: str) -> set[str]:
    return {
        var
        for var, f in settings_fields(service).items()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    }


def default_port(service: str) -> int:
    port = next(f.default for var, f in settings_fields(service).items() if f.name == "port")
    assert isinstance(port, int)
    return port


def subcommands(service: str) -> set[str]:
    """The `sub.add_parser("…")` names in services/<service>/__main__.py."""
    tree = ast.parse((SERVICES / service / "__main__.py").read_text(encoding="utf-8"))
    return {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "add_parser"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }


# --- the manifests ------------------------------------------------------------------------------


def of_kind(resources: list[Resource], kind: str) -> list[Resource]:
    return [r for r in resources if r["kind"] == kind]


def named(resources: list[Resource], kind: str, name: str) -> Resource:
    matches = [r for r in of_kind(resources, kind) if r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def service_deployments(resources: list[Resource]) -> dict[str, Resource]:
    """Service name → its Deployment (pods labelled component=service)."""
    return {
        d["metadata"]["name"]: d
        for d in of_kind(resources, "Deployment")
        if pod_labels(d).get("app.kubernetes.io/component") == "service"
    }


def pod_spec(workload: Resource) -> dict[str, Any]:
    spec: dict[str, Any] = workload["spec"]["template"]["spec"]
    return spec


def pod_labels(workload: Resource) -> dict[str, str]:
    labels: dict[str, str] = workload["spec"]["template"]["metadata"].get("labels", {})
    return labels


def workloads(resources: list[Resource]) -> Iterator[Resource]:
    for resource in resources:
        if resource["kind"] in {"Deployment", "StatefulSet", "Job", "DaemonSet"}:
            yield resource


def main_container(workload: Resource) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod_spec(workload)["containers"]
    assert len(containers) == 1, "one container per pod (no sidecars yet)"
    return containers[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Variable name → its entry (with `value` or `valueFrom`); a name given twice fails."""
    entries = container.get("env", [])
    names = [e["name"] for e in entries]
    assert len(names) == len(set(names)), f"{container['name']}: a variable is set twice"
    return {e["name"]: e for e in entries}


def container_port(container: dict[str, Any], name: str) -> int:
    port = next(p["containerPort"] for p in container["ports"] if p["name"] == name)
    assert isinstance(port, int)
    return port


# What a service serves on its main port: gRPC (every service but one) or HTTP (the web UI).
PROTOCOLS = ("grpc", "http")


def serving_port(container: dict[str, Any]) -> tuple[str, int]:
    """(protocol, port) of the port a service serves on, named after its protocol."""
    (named_port,) = (p for p in container["ports"] if p["name"] in PROTOCOLS)
    port = named_port["containerPort"]
    assert isinstance(port, int)
    return named_port["name"], port


# --- label selectors and network policies -------------------------------------------------------


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (an empty selector selects everything)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _peer_matches(peer: dict[str, Any], labels: dict[str, str], namespace: dict[str, str]) -> bool:
    """Does a `from`/`to` peer match a pod with `labels` in a namespace labelled `namespace`?"""
    if "ipBlock" in peer:
        return False  # we give no in-namespace flow by IP
    if "namespaceSelector" in peer and not selects(peer["namespaceSelector"], namespace):
        return False
    return selects(peer.get("podSelector", {}), labels)


def _rule_allows(
    rule: dict[str, Any], peers_key: str, labels: dict[str, str], ns: dict[str, str], port: int
) -> bool:
    peers = rule.get(peers_key)
    if peers and not any(_peer_matches(p, labels, ns) for p in peers):
        return False
    ports = rule.get("ports")
    return not ports or any(p.get("port") == port for p in ports)


def flow_allowed(
    policies: list[Resource],
    namespace_labels: dict[str, str],
    source: dict[str, str],
    destination: dict[str, str],
    port: int,
) -> bool:
    """Would NetworkPolicy let a pod labelled `source` open TCP `port` on `destination`,
    both in the same namespace? Policies are additive: a pod selected by any policy of a
    direction is isolated in it and needs some rule of those policies to allow the flow."""
    return direction_allows(
        policies, "Egress", source, destination, namespace_labels, port
    ) and direction_allows(policies, "Ingress", destination, source, namespace_labels, port)


def direction_allows(
    policies: list[Resource],
    kind: str,
    pod: dict[str, str],
    other: dict[str, str],
    other_namespace: dict[str, str],
    port: int,
) -> bool:
    """Do the policies let `pod` (of this namespace) send (kind "Egress") or accept (kind
    "Ingress") TCP `port` to or from `other`, a pod in a namespace labelled `other_namespace`?
    Alone, this is the whole answer only for a peer outside the namespace, whose own side
    these policies do not govern (an ingress controller, Prometheus)."""
    selecting = [
        p
        for p in policies
        if selects(p["spec"]["podSelector"], pod) and kind in p["spec"]["policyTypes"]
    ]
    if not selecting:
        return True  # not isolated in this direction
    key, peers_key = ("egress", "to") if kind == "Egress" else ("ingress", "from")
    return any(
        _rule_allows(rule, peers_key, other, other_namespace, port)
        for p in selecting
        for rule in p["spec"].get(key) or []
    )
