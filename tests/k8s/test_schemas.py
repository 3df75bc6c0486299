"""Every rendered resource is valid against the Kubernetes schemas (what `make k8s-validate`
prints, asserted here so that `make test` runs it too)."""

from __future__ import annotations

from pathlib import Path

import pytest

from k8s.render import build
from k8s.validate import SKIPPED_CUSTOM_RESOURCES, overlays, validate_overlay
from tests.k8s.manifests import K8S


@pytest.mark.parametrize("overlay", overlays(), ids=lambda p: str(p.relative_to(K8S)))
def test_every_resource_is_valid(overlay: Path) -> None:
    validated, _, problems = validate_overlay(overlay)
    assert problems == []
    assert validated > 0


def test_the_skip_list_names_only_custom_resources_we_use() -> None:
    """A stale entry would hide nothing today but could hide a built-in kind tomorrow."""
    used = {(r["apiVersion"], r["kind"]) for o in overlays() for r in build(o)}
    assert used >= SKIPPED_CUSTOM_RESOURCES
    assert all(not api.startswith(("v1", "apps/")) for api, _ in SKIPPED_CUSTOM_RESOURCES)
