"""Render every overlay and validate each resource against the Kubernetes schemas, offline.

``python -m k8s.validate`` (``make k8s-validate`` runs it before the policy tests). Schemas
come from the kubernetes-validate wheel, strict mode (an unknown field is an error, not a
typo that a cluster would silently drop). Custom resources have no schema there; they are
skipped by an explicit list, and anything else without a schema is a failure.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import kubernetes_validate  # type: ignore[import-untyped]  # no type information shipped

from k8s.render import RenderError, build, resource_id

K8S = Path(__file__).resolve().parent
OVERLAYS = K8S / "overlays"
# The oldest Kubernetes we deploy to (native gRPC probes need 1.27; 1.30 is the oldest the
# big clouds still support) and the newest schemas the wheel has.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
# CloudNativePG's resources. Their schemas are in the operator's CRDs, not vendored here (the
# CRD for Cluster alone is ~700 kB); tests/k8s checks the fields we rely on instead.
SKIPPED_CUSTOM_RESOURCES = frozenset(
    {
        ("postgresql.cnpg.io/v1", "Cluster"),
        ("postgresql.cnpg.io/v1", "Database"),
        ("postgresql.cnpg.io/v1", "ScheduledBackup"),
    }
)


def overlays() -> list[Path]:
    """Every kustomization under k8s/overlays (an environment and its migrate/ step)."""
    return sorted(p.parent for p in OVERLAYS.rglob("kustomization.yaml"))


def validate_overlay(overlay: Path) -> tuple[int, Counter[str], list[str]]:
    """(resources validated, kinds skipped, problems) for one overlay."""
    problems: list[str] = []
    skipped: Counter[str] = Counter()
    validated = 0
    for resource in build(overlay):
        api_version, kind, _, name = resource_id(resource)
        if (api_version, kind) in SKIPPED_CUSTOM_RESOURCES:
            skipped[kind] += 1
            continue
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(resource, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                path = ".".join(str(p) for p in error.path)
                problems.append(f"{kind}/{name} (Kubernetes {version}): {path}: {error.message}")
            except kubernetes_validate.SchemaNotFoundError as error:
                problems.append(f"{kind}/{name}: {error.message}")
        validated += 1
    return validated, skipped, problems


def main() -> int:
    failed = False
    total = 0
    for overlay in overlays():
        label = overlay.relative_to(K8S)
        try:
            validated, skipped, problems = validate_overlay(overlay)
        except RenderError as error:
            print(f"{label}: cannot render: {error}")
            failed = True
            continue
        total += validated
        skipped_text = ", ".join(f"{n} {kind}" for kind, n in sorted(skipped.items()))
        print(
            f"{label}: {validated} resources checked (strict, Kubernetes "
            f"{' and '.join(v.rsplit('.', 1)[0] for v in KUBERNETES_VERSIONS)})"
            + (f"; skipped custom resources: {skipped_text}" if skipped else "")
        )
        for problem in problems:
            print(f"  ERROR {problem}")
        failed = failed or bool(problems)
    verdict = "FAILED" if failed else "all valid"
    print(f"k8s-validate: {total} resources in {len(overlays())} overlays, {verdict}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
