"""The claims service's business figures for Prometheus, read from its database on scrape.

* ``elevins_claims_open{state}``: claims in each state that is not final (every state is
  reported, zero included, so that a dashboard's series never vanish);
* ``elevins_claims_clock_breaches_total{clock}``: arrival, repair and payment clocks that ran
  out (met late, or still running past their due time);
* ``elevins_claims_quoted_fen_total``, ``elevins_claims_approved_fen_total`` and
  ``elevins_claims_trimmed_fen_total``: over claims with an approved amount, the last quote's
  total, what was approved, and the difference, which is the padding the insurer took out.

Totals from the database are counters in Prometheus' sense (they only grow while claims are
kept), whichever replica is scraped; aggregate replicas with ``max``.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.claims.domain.clocks import ClockKind
from services.claims.domain.states import OPEN
from services.claims.store import ClaimFigures, ClaimsStore
from services.claims.usecases import ClaimsUseCases

NO_FIGURES = ClaimFigures(by_state={}, breaches={}, decided_quoted_fen=0, approved_fen=0)


class ClaimFiguresCollector(Collector):
    """Reports the last figures :meth:`refresh` read (the metrics server calls it per scrape)."""

    def __init__(self, usecases: ClaimsUseCases) -> None:
        self._usecases = usecases
        self.figures = NO_FIGURES

    async def refresh(self) -> None:
        async def read(store: ClaimsStore) -> ClaimFigures:
            return await store.figures()

        self.figures = await self._usecases.read(read)

    def collect(self) -> Iterator[Metric]:
        f = self.figures
        open_claims = GaugeMetricFamily(
            "elevins_claims_open", "Claims not closed, by state.", labels=["state"]
        )
        for state in sorted(OPEN):
            open_claims.add_metric([state.value], f.by_state.get(state.value, 0))
        yield open_claims
        breaches = CounterMetricFamily(
            "elevins_claims_clock_breaches",
            "Claim clocks (arrival, repair, payment) that ran out.",
            labels=["clock"],
        )
        for kind in ClockKind:
            breaches.add_metric([kind.value], f.breaches.get(kind.value, 0))
        yield breaches
        for name, value, text in (
            ("quoted_fen", f.decided_quoted_fen, "Quoted total of claims with an approved amount"),
            ("approved_fen", f.approved_fen, "Approved total of those claims"),
            ("trimmed_fen", f.trimmed_fen, "Quoted minus approved: padding taken out of quotes"),
        ):
            yield CounterMetricFamily(f"elevins_claims_{name}", f"{text} (fen).", value=value)
