"""The offline renderer (k8s/render.py): the kustomize subset it claims, and nothing more."""

from __future__ import annotations

import shutil
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from k8s.render import RenderError, build, dump, resource_id
from k8s.validate import overlays
from tests.k8s.manifests import ENVIRONMENTS, K8S, of_kind, pod_spec, service_deployments

KUBECTL = shutil.which("kubectl")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: nothing to compare with")
@pytest.mark.parametrize("overlay", overlays(), ids=lambda p: str(p.relative_to(K8S)))
def test_renders_what_kubectl_kustomize_renders(overlay: Path) -> None:
    """Where the real kustomize is at hand, the subset gives the same resources, same order."""
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(overlay)], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    theirs = [d for d in yaml.safe_load_all(out) if d]
    ours = build(overlay)
    assert [resource_id(r) for r in ours] == [resource_id(r) for r in theirs]
    assert ours == theirs


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_overlay_applies_namespace_labels_and_image(rendered, env: str) -> None:
    namespace = {"dev": "elevins-dev", "prod": "elevins"}[env]
    for step in (env, f"{env}/migrate"):
        for resource in rendered[step]:
            meta = resource["metadata"]
            if resource["kind"] == "Namespace":
                assert meta["name"] == namespace
            else:
                assert meta["namespace"] == namespace, resource_id(resource)
            assert meta["labels"]["elevins.io/environment"] == env
        images = {
            c["image"]
            for r in rendered[step]
            if r["kind"] in {"Deployment", "Job"}
            for c in pod_spec(r)["containers"]
            if "elevins" in c["image"]
        }
        # Every service and migration runs the one image of the release, never the bare name.
        assert len(images) == 1 and images.pop().startswith("registry.example.com/elevins/")


def test_dev_runs_one_of_everything_and_prod_lets_autoscalers_decide(rendered) -> None:
    for deployment in of_kind(rendered["dev"], "Deployment"):
        assert deployment["spec"]["replicas"] == 1
    (cluster,) = of_kind(rendered["dev"], "Cluster")
    assert cluster["spec"]["instances"] == 1
    for deployment in service_deployments(rendered["prod"]).values():
        assert "replicas" not in deployment["spec"], "the HorizontalPodAutoscaler owns it"
    (cluster,) = of_kind(rendered["prod"], "Cluster")
    assert cluster["spec"]["instances"] == 3


def test_migrate_jobs_are_named_per_release(rendered) -> None:
    for env in ENVIRONMENTS:
        kustomization = yaml.safe_load(
            (K8S / "overlays" / env / "migrate" / "kustomization.yaml").read_text()
        )
        for job in rendered[f"{env}/migrate"]:
            assert job["kind"] == "Job"
            assert job["metadata"]["name"].endswith("-migrate" + kustomization["nameSuffix"])


# --- the subset, on small kustomizations ----------------------------------------------------


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: app}
    spec:
      template:
        spec:
          initContainers: [{name: init, image: "elevins:old"}]
          containers: [{name: app, image: elevins}, {name: side, image: "other:1"}]
"""


def test_nested_build_with_every_supported_field(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "base/kustomization.yaml": "resources: [app.yaml, ns.yaml]\n",
            "base/app.yaml": DEPLOYMENT,
            "base/ns.yaml": "apiVersion: v1\nkind: Namespace\nmetadata: {name: placeholder}\n",
            "overlay/kustomization.yaml": """\
                namespace: team
                resources: [../base]
                labels: [{pairs: {env: test}}]
                images: [{name: elevins, newName: reg/elevins, newTag: "1.2"}]
                patches:
                  - target: {kind: Deployment, name: app}
                    patch: |-
                      - {op: add, path: /spec/replicas, value: 2}
                      - {op: replace, path: /spec/template/spec/containers/1/image, value: x}
                      - {op: remove, path: /spec/template/spec/initContainers}
            """,
        },
    )
    namespace, deployment = build(root / "overlay")
    assert namespace["metadata"] == {"name": "team", "labels": {"env": "test"}}
    assert deployment["metadata"] == {"name": "app", "namespace": "team", "labels": {"env": "test"}}
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    assert [c["image"] for c in spec["template"]["spec"]["containers"]] == ["reg/elevins:1.2", "x"]
    assert "initContainers" not in spec["template"]["spec"]
    assert "kind: Deployment" in dump([deployment])


def test_image_tags_and_digests(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "kustomization.yaml": """\
                resources: [app.yaml]
                images: [{name: elevins, digest: "sha256:abc"}]
            """,
            "app.yaml": DEPLOYMENT,
        },
    )
    (deployment,) = build(root)
    spec = deployment["spec"]["template"]["spec"]
    assert spec["initContainers"][0]["image"] == "elevins@sha256:abc"
    assert spec["containers"][1]["image"] == "other:1"


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        ("resources: [app.yaml]\ncommonLabels: {a: b}\n", "unsupported field"),
        ("resources: [missing.yaml]\n", "does not exist"),
        ("resources: [app.yaml, app.yaml]\n", "appears twice"),
        ("resources: [app.yaml]\nnameSuffix: -x\n", "Jobs only"),
        ("resources: [app.yaml]\nlabels: [{pairs: {a: b}, includeSelectors: true}]\n", "pairs"),
        (
            "resources: [app.yaml]\npatches: [{target: {kind: Service}, patch: '[]'}]\n",
            "matches no resource",
        ),
        (
            "resources: [app.yaml]\npatches: [{target: {kind: Deployment}, patch: 'spec: {}'}]\n",
            "JSON 6902",
        ),
        (
            "resources: [app.yaml]\npatches: [{target: {kind: Deployment}, "
            "patch: '[{op: replace, path: /spec/nope, value: 1}]'}]\n",
            "does not exist",
        ),
    ],
)
def test_refuses_what_it_does_not_support(tmp_path: Path, kustomization: str, message: str) -> None:
    root = _write(tmp_path, {"kustomization.yaml": kustomization, "app.yaml": DEPLOYMENT})
    with pytest.raises(RenderError, match=message):
        build(root)


def test_output_is_sorted_like_kustomize(tmp_path: Path) -> None:
    documents: list[dict[str, Any]] = [
        {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "a"}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "b"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "c"}},
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "d"}},
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "e"}},
    ]
    root = _write(
        tmp_path,
        {
            "kustomization.yaml": "resources: [all.yaml]\n",
            "all.yaml": "---\n".join(yaml.safe_dump(d) for d in documents),
        },
    )
    kinds = [r["kind"] for r in build(root)]
    assert kinds == ["Namespace", "ServiceAccount", "Deployment", "PodDisruptionBudget", "Widget"]
