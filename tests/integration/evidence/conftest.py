"""The evidence service's fixtures: a stub on the session's service, and its use cases."""

from __future__ import annotations

import pytest

from elevins.evidence.v1 import evidence_pb2_grpc


@pytest.fixture
def stub(evidence_channel) -> evidence_pb2_grpc.EvidenceServiceStub:
    return evidence_pb2_grpc.EvidenceServiceStub(evidence_channel)


@pytest.fixture
def usecases(evidence_app):
    return evidence_app[1]
