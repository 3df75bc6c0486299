"""House rules for the manifests: every service is deployed, probed, bounded, hardened,
fenced in by NetworkPolicy, and (in prod) autoscaled and protected by a disruption budget."""

from __future__ import annotations

import importlib
import pkgutil
import re
from typing import Any

import pytest
import yaml

from tests.k8s.manifests import (
    ENVIRONMENTS,
    K8S,
    env_of,
    has_migrations,
    main_container,
    named,
    of_kind,
    pod_labels,
    pod_spec,
    selects,
    service_deployments,
    services_with_server,
    serving_port,
    workloads,
)

SERVICES = services_with_server()


def test_some_services_exist() -> None:
    assert {"policy", "claims"} <= set(SERVICES)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_with_a_server_is_deployed_and_nothing_else(rendered, env: str) -> None:
    assert sorted(service_deployments(rendered[env])) == SERVICES
    for service in SERVICES:
        for kind in ("Service", "ServiceAccount", "NetworkPolicy"):
            named(rendered[env], kind, service)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_service_with_migrations_has_a_migrate_job(rendered, env: str) -> None:
    jobs = {pod_labels(j)["app.kubernetes.io/name"] for j in rendered[f"{env}/migrate"]}
    assert jobs == {s for s in SERVICES if has_migrations(s)}


def test_prod_has_an_autoscaler_and_disruption_budget_per_service(rendered) -> None:
    prod = rendered["prod"]
    deployments = service_deployments(prod)
    for service, deployment in deployments.items():
        hpa = named(prod, "HorizontalPodAutoscaler", service)
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": service,
        }
        assert 2 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
        # HPA scales on CPU utilisation, a share of the request: there must be one.
        assert "cpu" in main_container(deployment)["resources"]["requests"]
        pdb = named(prod, "PodDisruptionBudget", service)
        assert selects(pdb["spec"]["selector"], pod_labels(deployment))
        # One pod at a time; with minReplicas >= 2 a drain never takes the service down.
        assert pdb["spec"]["maxUnavailable"] == 1
    assert len(of_kind(prod, "HorizontalPodAutoscaler")) == len(deployments)
    assert not of_kind(rendered["dev"], "HorizontalPodAutoscaler")
    assert not of_kind(rendered["dev"], "PodDisruptionBudget")


def _web_get_routes() -> set[str]:
    """The paths the web UI answers GET on (its views' route tables)."""
    import services.web.views as views

    paths = set()
    for module in pkgutil.iter_modules(views.__path__):
        table = getattr(importlib.import_module(f"{views.__name__}.{module.name}"), "routes", [])
        paths |= {r.path for r in table if getattr(r, "method", None) == "GET"}
    return paths


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_pods_are_probed_on_their_port(rendered, env: str) -> None:
    for service, deployment in service_deployments(rendered[env]).items():
        container = main_container(deployment)
        protocol, port = serving_port(container)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            if protocol == "grpc":
                # Native gRPC probe: grpc.health.v1.Health/Check, service "" (shared/grpc_server).
                assert container[probe]["grpc"] == {"port": port}, f"{service} {probe}"
            else:
                # The web UI: GET /healthz, a route it has, on its HTTP port.
                assert (service, protocol) == ("web", "http")
                assert container[probe]["httpGet"] == {"path": "/healthz", "port": "http"}
                assert "/healthz" in _web_get_routes()
        assert container["livenessProbe"]["failureThreshold"] >= 3, "no restart on one blip"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_ui_is_published_over_https_only(rendered, env: str) -> None:
    resources = rendered[env]
    (ingress,) = of_kind(resources, "Ingress")
    spec = ingress["spec"]
    (rule,) = spec["rules"]
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    # To the web Service's HTTP port, by name (the port the pods serve: test_code_agreement).
    assert path["backend"]["service"] == {"name": "web", "port": {"name": "http"}}
    assert [p["name"] for p in named(resources, "Service", "web")["spec"]["ports"]] == ["http"]
    # TLS for exactly the host it answers, from a Secret made outside git (k8s/README.md).
    (tls,) = spec["tls"]
    assert tls == {"hosts": [rule["host"]], "secretName": "elevins-web-tls"}
    # ...and never on the plain-HTTP entry point.
    annotations = ingress["metadata"]["annotations"]
    assert annotations["traefik.ingress.kubernetes.io/router.entrypoints"] == "websecure"


def test_each_environment_answers_on_its_own_host(rendered) -> None:
    hosts = {
        env: of_kind(rendered[env], "Ingress")[0]["spec"]["rules"][0]["host"]
        for env in ENVIRONMENTS
    }
    assert len(set(hosts.values())) == len(ENVIRONMENTS), hosts


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_pods_have_requests_and_limits(rendered, env: str) -> None:
    for service, deployment in service_deployments(rendered[env]).items():
        resources = main_container(deployment)["resources"]
        for bound in ("requests", "limits"):
            assert set(resources[bound]) == {"cpu", "memory"}, f"{service} {bound}"


def _quantity(value: str) -> float:
    units = {"m": 1e-3, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "": 1}
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", str(value)).groups()  # type: ignore[union-attr]
    return float(number) * units[unit]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_pod_is_hardened(rendered, env: str) -> None:
    """What Pod Security Admission `restricted` demands, and a read-only root filesystem.
    Every workload: the services, their Jobs, MinIO and the collector."""
    for workload in [*workloads(rendered[env]), *rendered[f"{env}/migrate"]]:
        name = f"{workload['kind']}/{workload['metadata']['name']}"
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False, name
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
        writable = {v["name"] for v in spec.get("volumes", [])}
        for container in spec["containers"]:
            context = container["securityContext"]
            assert context["runAsNonRoot"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["capabilities"] == {"drop": ["ALL"]}, name
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, name
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            if workload["metadata"]["labels"].get("app.kubernetes.io/part-of") == "elevins":
                assert mounts.get("/tmp") in writable, f"{name}: /tmp must be an emptyDir"
            resources = container["resources"]
            for bound in ("requests", "limits"):
                assert set(resources[bound]) == {"cpu", "memory"}, f"{name} {bound}"
            assert _quantity(resources["requests"]["memory"]) <= _quantity(
                resources["limits"]["memory"]
            ), name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_service_accounts_carry_no_token(rendered, env: str) -> None:
    for service, deployment in service_deployments(rendered[env]).items():
        assert pod_spec(deployment)["serviceAccountName"] == service
        account = named(rendered[env], "ServiceAccount", service)
        assert account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_shutdown_fits_in_the_grace_period(rendered, env: str) -> None:
    """preStop sleep, then SIGTERM: health NOT_SERVING and GRPC_SHUTDOWN_GRACE_S of drain
    (shared/grpc_server.py), then the pool closes and spans flush (5 s): all before SIGKILL."""
    for service, deployment in service_deployments(rendered[env]).items():
        container = main_container(deployment)
        command = container["lifecycle"]["preStop"]["exec"]["command"]
        assert command[0] == "sleep"
        drain = float(env_of(container)["GRPC_SHUTDOWN_GRACE_S"]["value"])
        grace = pod_spec(deployment)["terminationGracePeriodSeconds"]
        assert grace >= int(command[1]) + drain + 5, service
        # ...and not much more: a stuck pod should not hold a rollout for minutes.
        assert grace <= int(command[1]) + drain + 15, service


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return [node] if isinstance(node, str) else []


SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL", re.IGNORECASE)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_secrets_are_referenced_never_written_down(rendered, env: str) -> None:
    resources = rendered[env] + rendered[f"{env}/migrate"]
    assert not of_kind(resources, "Secret"), "Secrets are made outside git (k8s/README.md)"
    for workload in workloads(resources):
        for container in pod_spec(workload)["containers"]:
            for variable, entry in env_of(container).items():
                if "value" in entry and SECRET_NAME.search(variable):
                    # Only a credential-free URL may be written down (validation's, unused).
                    assert variable == "DATABASE_URL", f"{variable} must be a secretKeyRef"
                    assert not re.search(r"://[^/@]*:[^/@]*@", entry["value"]), variable
                if "valueFrom" in entry:
                    assert set(entry["valueFrom"]) == {"secretKeyRef"}, variable
    for text in (s for r in resources for s in _strings(r)):
        assert not re.search(r"://[^/@\s]+:[^/@\s]+@", text), "a password in a URL"
        assert not re.search(r"-----BEGIN [A-Z ]*PRIVATE KEY-----", text)


def test_images_agree_between_an_environment_and_its_migrations() -> None:
    for env in ENVIRONMENTS:
        app = yaml.safe_load((K8S / "overlays" / env / "kustomization.yaml").read_text())
        migrate = yaml.safe_load(
            (K8S / "overlays" / env / "migrate" / "kustomization.yaml").read_text()
        )
        assert app["images"] == migrate["images"], env
        assert app["namespace"] == migrate["namespace"], env
        tag = app["images"][0]["newTag"]
        assert migrate["nameSuffix"] == "-" + re.sub(r"[^a-z0-9-]", "-", tag.lower()), env
