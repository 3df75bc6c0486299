"""Render every overlay once per session (the renderer takes well under a second)."""

from __future__ import annotations

from typing import Any

import pytest

from k8s.render import build
from tests.k8s.manifests import ENVIRONMENTS, K8S


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """ "dev", "dev/migrate", "prod", "prod/migrate" → the resources each renders to."""
    out: dict[str, list[dict[str, Any]]] = {}
    for env in ENVIRONMENTS:
        out[env] = build(K8S / "overlays" / env)
        out[f"{env}/migrate"] = build(K8S / "overlays" / env / "migrate")
    return out
