"""The image (k8s/Dockerfile) and the manifests agree on who runs and what is in it. There is
no Docker here to build it; these are the properties a reader would otherwise check by eye."""

from __future__ import annotations

import re

import pytest

from tests.k8s.manifests import ENVIRONMENTS, K8S, pod_spec, workloads

DOCKERFILE = (K8S / "Dockerfile").read_text(encoding="utf-8")
# The instructions of the last stage: what the running image is made of.
FINAL_STAGE = re.split(r"^FROM ", DOCKERFILE, flags=re.MULTILINE)[-1]


def test_final_stage_runs_as_the_uid_the_manifests_require(rendered) -> None:
    (user,) = re.findall(r"^USER (\d+):(\d+)$", FINAL_STAGE, flags=re.MULTILINE)
    for env in ENVIRONMENTS:
        for workload in [*workloads(rendered[env]), *rendered[f"{env}/migrate"]]:
            if "elevins" not in pod_spec(workload)["containers"][0]["image"]:
                continue  # MinIO and the collector run their own images' users
            context = pod_spec(workload)["securityContext"]
            assert (str(context["runAsUser"]), str(context["runAsGroup"])) == user


def test_final_stage_has_no_build_tools() -> None:
    """Only the venv, the code and the generated protobuf modules come from the build stage."""
    assert "RUN pip" not in FINAL_STAGE and "uv " not in FINAL_STAGE
    for line in re.findall(r"^COPY .*$", FINAL_STAGE, flags=re.MULTILINE):
        assert line.startswith("COPY --from=build /opt/venv ") or line.startswith(
            "COPY --from=build /app/"
        ), line
    assert "/opt/tools" not in FINAL_STAGE
    assert "apt-get" not in DOCKERFILE, "no system packages, so no compiler sneaks in"


@pytest.mark.parametrize(
    "needle",
    [
        # Generated protobuf code, made the way the Makefile makes it.
        "grpc_tools.protoc -I protos",
        # The runtime dependencies pinned by the lock, not the dev extras.
        "-r pyproject.toml --constraint requirements.lock",
        # The repository root and build/gen importable, as scripts/link_venv.py arranges.
        "scripts/link_venv.py",
        # Bytecode compiled at build time: the root filesystem is read-only at run time.
        "compileall",
    ],
)
def test_build_stage_does_what_make_setup_does(needle: str) -> None:
    assert needle in DOCKERFILE


def test_python_matches_the_project() -> None:
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in DOCKERFILE
