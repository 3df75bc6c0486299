"""PostgreSQL (CloudNativePG): one role and one schema per service that migrates one, and
enough connections for every replica the autoscalers may start. These resources are skipped
by the schema validation (custom resources), so the fields we rely on are checked here."""

from __future__ import annotations

import importlib
import inspect

import pytest

from services.policy.server import SCHEMA as POLICY_SCHEMA
from shared.db import create_engine
from tests.k8s.manifests import (
    ENVIRONMENTS,
    env_of,
    has_migrations,
    main_container,
    named,
    service_deployments,
    services_with_server,
)

MIGRATING = sorted(s for s in services_with_server() if has_migrations(s))
# superuser_reserved_connections (3) plus the operator's and the backups' own sessions.
RESERVED_CONNECTIONS = 10


def test_schema_names_are_service_names() -> None:
    """The roles and schemas below are named after the services, as server.py's SCHEMA is."""
    assert POLICY_SCHEMA == "policy"


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_role_and_one_schema_per_migrating_service(rendered, env: str) -> None:
    resources = rendered[env]
    cluster = named(resources, "Cluster", "elevins-db")["spec"]
    database = named(resources, "Database", "elevins")["spec"]
    roles = {r["name"]: r for r in cluster["managed"]["roles"]}
    schemas = {s["name"]: s["owner"] for s in database["schemas"]}
    assert sorted(roles) == MIGRATING
    assert schemas == {s: s for s in MIGRATING}
    assert database["cluster"]["name"] == "elevins-db"
    assert database["name"] == database["owner"] == cluster["bootstrap"]["initdb"]["database"]
    deployments = service_deployments(resources)
    for service in MIGRATING:
        # The role's password and the service's DATABASE_URL come from the same Secret.
        reference = env_of(main_container(deployments[service]))["DATABASE_URL"]["valueFrom"]
        assert reference["secretKeyRef"]["name"] == roles[service]["passwordSecret"]["name"]
        assert roles[service]["login"] is True
        assert roles[service]["inRoles"] == [database["owner"]]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_backups_go_to_object_storage_with_referenced_credentials(rendered, env: str) -> None:
    resources = rendered[env]
    backup = named(resources, "Cluster", "elevins-db")["spec"]["backup"]["barmanObjectStore"]
    assert backup["destinationPath"].startswith("s3://")
    credentials = backup["s3Credentials"]
    for field in ("accessKeyId", "secretAccessKey"):
        assert set(credentials[field]) == {"name", "key"}, "a reference, not a value"
    scheduled = named(resources, "ScheduledBackup", "elevins-db-nightly")["spec"]
    assert scheduled["cluster"] == {"name": "elevins-db"}
    assert len(scheduled["schedule"].split()) == 6, "CloudNativePG cron has a seconds field"


def _pool_size(service: str) -> int:
    """The engine's pool_size: the service's server.py POOL_SIZE if it sets one (web), else
    create_engine's default."""
    default = inspect.signature(create_engine).parameters["pool_size"].default
    size = getattr(importlib.import_module(f"services.{service}.server"), "POOL_SIZE", default)
    assert isinstance(size, int)
    return size


def test_prod_autoscalers_cannot_exhaust_postgres_connections(rendered) -> None:
    """Each replica's engine holds up to pool_size + max_overflow connections (shared/db.py:
    max_overflow = pool_size); every replica the HPAs may start, plus the one a rolling update
    adds (maxSurge), plus a release's migration Jobs (one connection each), must fit."""
    prod = rendered["prod"]
    deployments = service_deployments(prod)
    ceiling = sum(
        (
            named(prod, "HorizontalPodAutoscaler", s)["spec"]["maxReplicas"]
            + deployments[s]["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
        )
        * 2
        * _pool_size(s)
        for s in MIGRATING
    )
    migrations = len(MIGRATING)
    cluster = named(prod, "Cluster", "elevins-db")["spec"]
    max_connections = int(cluster["postgresql"]["parameters"]["max_connections"])
    assert ceiling + migrations + RESERVED_CONNECTIONS <= max_connections, (
        f"{ceiling} from services + {migrations} from migrations > {max_connections}"
    )
