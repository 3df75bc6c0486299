"""The evidence service's figures for Prometheus, read from its database on scrape: how far the
background verifier is behind (docs/adr/0010).

* ``elevins_evidence_uploads{state}``: uploads in each state (pending, received, verified,
  rejected; every state reported, zero included);
* ``elevins_evidence_verification_lag_seconds``: how long the oldest received upload has been
  waiting for the verifier (0 when none waits). A lag that keeps growing means verification
  is slower than uploads arrive: more verifier capacity, or a verifier that is down.

Read from the database, so every replica reports the same; aggregate replicas with ``max``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.evidence.domain.uploads import PENDING, RECEIVED, REJECTED, VERIFIED
from services.evidence.store import EvidenceStore, UploadFigures
from services.evidence.usecases import EvidenceUseCases

STATES = (PENDING, RECEIVED, VERIFIED, REJECTED)


class UploadFiguresCollector(Collector):
    """Reports the last figures :meth:`refresh` read (the metrics server calls it per scrape)."""

    def __init__(self, usecases: EvidenceUseCases) -> None:
        self._usecases = usecases
        self.figures = UploadFigures(by_state={}, oldest_received=None)

    async def refresh(self) -> None:
        async def read(store: EvidenceStore) -> UploadFigures:
            return await store.upload_figures()

        self.figures = await self._usecases.read(read)

    def collect(self) -> Iterator[Metric]:
        uploads = GaugeMetricFamily(
            "elevins_evidence_uploads", "Uploads by state.", labels=["state"]
        )
        for state in STATES:
            uploads.add_metric([state], self.figures.by_state.get(state, 0))
        yield uploads
        oldest = self.figures.oldest_received
        lag = 0.0 if oldest is None else (self._usecases.clock.now() - oldest).total_seconds()
        yield GaugeMetricFamily(
            "elevins_evidence_verification_lag_seconds",
            "How long the oldest received upload has waited for the verifier.",
            value=max(0.0, lag),
        )
