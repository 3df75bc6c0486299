"""Render a kustomization offline, for checks on machines without kubectl or kustomize.

This is a *subset* of kustomize: exactly the features the overlays under ``k8s/`` use, and an
error for anything else, so it can never silently render something kustomize would render
differently. Deploying uses the real thing (``kubectl apply -k k8s/overlays/prod``); where
``kubectl`` is installed, ``tests/k8s/test_render.py`` checks that both produce the same
resources.

Supported kustomization fields:

* ``resources``: YAML files (several documents each) and directories holding a
  ``kustomization.yaml``, built recursively, their own transformations applied first;
* ``namespace``: set on every namespaced resource; a ``Namespace`` resource is renamed to it;
* ``patches``: inline JSON 6902 patches (``add``, ``replace``, ``remove``, ``test``) with a
  ``target`` of ``kind`` and optionally ``name`` (exact, not a regex); a target that matches
  nothing is an error here (kustomize ignores it; a typo should not pass silently);
* ``labels``: ``pairs`` added to ``metadata.labels`` only (no ``includeSelectors`` or
  ``includeTemplates``);
* ``nameSuffix``: only in kustomizations of Jobs, since name references are not rewritten;
* ``images``: ``name`` with ``newName``, ``newTag`` and/or ``digest``, in every
  ``containers`` and ``initContainers`` list.

They are applied in that order (kustomize's order for these fields), and the result is
sorted the way ``kubectl kustomize`` sorts it (its "legacy" order: namespaces and service
accounts before the workloads that need them).

Usage: ``python -m k8s.render k8s/overlays/prod > prod.yaml``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

__all__ = ["RenderError", "build", "dump", "resource_id"]

Resource = dict[str, Any]

KUSTOMIZATION_FILE = "kustomization.yaml"
SUPPORTED_FIELDS = frozenset(
    {"apiVersion", "kind", "resources", "namespace", "patches", "labels", "nameSuffix", "images"}
)
# Cluster-scoped kinds the namespace transformer must leave alone (the ones we might meet).
CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
    }
)
# kubectl kustomize's default ("legacy") output order: these kinds first, in this order...
ORDER_FIRST = (
    "Namespace",
    "ResourceQuota",
    "StorageClass",
    "CustomResourceDefinition",
    "ServiceAccount",
    "PodSecurityPolicy",
    "Role",
    "ClusterRole",
    "RoleBinding",
    "ClusterRoleBinding",
    "ConfigMap",
    "Secret",
    "Endpoints",
    "Service",
    "LimitRange",
    "PriorityClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Deployment",
    "StatefulSet",
    "CronJob",
    "PodDisruptionBudget",
)
# ...these last, and every other kind in between, by apiVersion and kind.
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")
# Kinds a nameSuffix may rename: nothing refers to a Job by name, so no reference breaks.
SUFFIXABLE = frozenset({"Job"})


class RenderError(ValueError):
    """The kustomization uses something this subset does not support, or is inconsistent."""


def build(directory: Path | str) -> list[Resource]:
    """The resources the kustomization in ``directory`` renders to, in kustomize's order."""
    return sorted(_build(Path(directory)), key=_sort_key)


def dump(resources: Iterable[Resource]) -> str:
    """A YAML stream, keys sorted as kustomize writes them, multi-line strings as blocks."""
    return "---\n".join(
        yaml.dump(r, Dumper=_Dumper, sort_keys=True, allow_unicode=True) for r in resources
    )


def resource_id(resource: Resource) -> tuple[str, str, str, str]:
    """(apiVersion, kind, namespace, name): what makes a resource unique in a build."""
    meta = resource.get("metadata", {})
    return (
        resource["apiVersion"],
        resource["kind"],
        meta.get("namespace", ""),
        meta["name"],
    )


# --- building ---------------------------------------------------------------------------------


def _build(directory: Path) -> list[Resource]:
    path = directory / KUSTOMIZATION_FILE
    if not path.is_file():
        raise RenderError(f"{directory}: no {KUSTOMIZATION_FILE}")
    kustomization = _load_one(path)
    unknown = set(kustomization) - SUPPORTED_FIELDS
    if unknown:
        raise RenderError(f"{path}: unsupported field(s) {', '.join(sorted(unknown))}")

    resources: list[Resource] = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        if target.is_dir():
            resources += _build(target)
        elif target.is_file():
            resources += _load_all(target)
        else:
            raise RenderError(f"{path}: resource {entry} does not exist")
    _check_unique(resources, path)

    if "namespace" in kustomization:
        _set_namespace(resources, kustomization["namespace"])
    for patch in kustomization.get("patches", []):
        _apply_patch(resources, patch, path)
    for label_set in kustomization.get("labels", []):
        _add_labels(resources, label_set, path)
    if "nameSuffix" in kustomization:
        _add_name_suffix(resources, kustomization["nameSuffix"], path)
    for image in kustomization.get("images", []):
        _set_image(resources, image, path)
    _check_unique(resources, path)
    return resources


def _load_one(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise RenderError(f"{path}: not a mapping")
    return data


def _load_all(path: Path) -> list[Resource]:
    documents = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    for document in documents:
        if not isinstance(document, dict) or not {"apiVersion", "kind", "metadata"} <= set(
            document
        ):
            raise RenderError(f"{path}: every document needs apiVersion, kind and metadata")
    return documents


def _check_unique(resources: list[Resource], where: Path) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for resource in resources:
        rid = resource_id(resource)
        if rid in seen:
            raise RenderError(f"{where}: {rid} appears twice")
        seen.add(rid)


# --- transformations ----------------------------------------------------------------------------


def _set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource["kind"] == "Namespace":
            resource["metadata"]["name"] = namespace
        elif resource["kind"] not in CLUSTER_SCOPED:
            resource["metadata"]["namespace"] = namespace
        if resource["kind"] in {"RoleBinding", "ClusterRoleBinding"}:
            # kustomize also moves ServiceAccount subjects; not implemented, so refuse.
            raise RenderError("role bindings are not supported by this renderer")


def _apply_patch(resources: list[Resource], patch: dict[str, Any], where: Path) -> None:
    if set(patch) != {"target", "patch"}:
        raise RenderError(f"{where}: a patch needs exactly `target` and inline `patch`")
    target = patch["target"]
    if not set(target) <= {"kind", "name"} or "kind" not in target:
        raise RenderError(f"{where}: a patch target is `kind` and optionally `name`")
    operations = yaml.safe_load(patch["patch"])
    if not isinstance(operations, list):
        raise RenderError(f"{where}: only JSON 6902 patches (a list of operations)")
    matched = [
        r
        for r in resources
        if r["kind"] == target["kind"]
        and ("name" not in target or r["metadata"]["name"] == target["name"])
    ]
    if not matched:
        raise RenderError(f"{where}: patch target {target} matches no resource")
    for resource in matched:
        for operation in operations:
            _json6902(resource, operation, where)


def _json6902(document: Resource, operation: dict[str, Any], where: Path) -> None:
    op, pointer = operation.get("op"), operation.get("path", "")
    if not pointer.startswith("/"):
        raise RenderError(f"{where}: path {pointer!r} must start with /")
    *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    node: Any = document
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node.get(part)
        if node is None:
            raise RenderError(f"{where}: {pointer}: {part} does not exist")
    key: Any = last
    if isinstance(node, list):
        key = len(node) if last == "-" else int(last)
    elif last not in node and op in {"replace", "remove", "test"}:
        raise RenderError(f"{where}: {pointer} does not exist (op {op})")
    value = copy.deepcopy(operation.get("value"))
    if op == "add":
        if isinstance(node, list):
            node.insert(key, value)
        else:
            node[key] = value
    elif op == "replace":
        node[key] = value
    elif op == "remove":
        del node[key]
    elif op == "test":
        if node[key] != value:
            raise RenderError(f"{where}: test failed at {pointer}")
    else:
        raise RenderError(f"{where}: unsupported JSON 6902 op {op!r}")


def _add_labels(resources: list[Resource], label_set: dict[str, Any], where: Path) -> None:
    if set(label_set) != {"pairs"}:
        raise RenderError(f"{where}: labels support `pairs` only (metadata.labels)")
    for resource in resources:
        resource["metadata"].setdefault("labels", {}).update(label_set["pairs"])


def _add_name_suffix(resources: list[Resource], suffix: str, where: Path) -> None:
    others = sorted({r["kind"] for r in resources} - SUFFIXABLE)
    if others:
        raise RenderError(
            f"{where}: nameSuffix is supported for Jobs only (references to {others} "
            "would need rewriting)"
        )
    for resource in resources:
        resource["metadata"]["name"] += suffix


def _set_image(resources: list[Resource], image: dict[str, Any], where: Path) -> None:
    if "name" not in image or not set(image) <= {"name", "newName", "newTag", "digest"}:
        raise RenderError(f"{where}: images support name, newName, newTag and digest")
    for resource in resources:
        for container in _containers(resource):
            name, tag = _split_image(container.get("image", ""))
            if name != image["name"]:
                continue
            name = image.get("newName", name)
            if "digest" in image:
                container["image"] = f"{name}@{image['digest']}"
            else:
                new_tag = image.get("newTag", tag)
                container["image"] = f"{name}:{new_tag}" if new_tag else name


def _containers(node: Any) -> Iterable[dict[str, Any]]:
    """Every container in a resource, wherever its pod template sits."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"containers", "initContainers"} and isinstance(value, list):
                yield from (c for c in value if isinstance(c, dict))
            else:
                yield from _containers(value)
    elif isinstance(node, list):
        for item in node:
            yield from _containers(item)


def _split_image(image: str) -> tuple[str, str]:
    """("registry:5000/name", "tag") from an image reference; a digest counts as the tag."""
    if "@" in image:
        name, _, digest = image.partition("@")
        return name, digest
    head, _, last = image.rpartition("/")
    if ":" in last:
        base, _, tag = last.partition(":")
        return (f"{head}/{base}" if head else base), tag
    return image, ""


# --- output -------------------------------------------------------------------------------------


def _sort_key(resource: Resource) -> tuple[int, str, str, str, str]:
    kind = resource["kind"]
    if kind in ORDER_FIRST:
        rank = ORDER_FIRST.index(kind)
    elif kind in ORDER_LAST:
        rank = len(ORDER_FIRST) + 1 + ORDER_LAST.index(kind)
    else:
        rank = len(ORDER_FIRST)
    api_version, _, namespace, name = resource_id(resource)
    return (rank, api_version if rank == len(ORDER_FIRST) else "", kind, namespace, name)


class _Dumper(yaml.SafeDumper):
    pass


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m k8s.render DIRECTORY", file=sys.stderr)
        return 2
    try:
        sys.stdout.write(dump(build(argv[0])))
    except RenderError as error:
        print(f"render: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
