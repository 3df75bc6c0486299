"""The background verifier: received uploads become evidence (or are rejected) off the request
path, so that accepting a photo costs what storing it costs (docs/adr/0010).

It takes received uploads from the database a couple at a time under a lease (``SKIP
LOCKED``: several replicas never take the same one; one that dies lets its lease run out),
verifies and registers each (``EvidenceUseCases.verify_received``), ``concurrency`` at a time
(the decoding runs in threads, so two use two cores), and sweeps leftover staged objects now
and then. When idle, it re-hashes photos an older version of the perceptual hash hashed
(``EvidenceUseCases.rehash_stale``, docs/adr/0011). It wakes when this process receives
uploads and polls for the rest (other replicas, leases run out, retries after a storage
failure). Everything it needs is in the database: a restart loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from services.evidence.usecases import EvidenceUseCases

log = logging.getLogger("elevins.evidence.verifier")
_LEASED_AT_ONCE = 2
_SPENT_AT_ONCE = 100  # staged objects removed in one request (DeleteObjects takes 1,000)


class Verifier:
    def __init__(
        self,
        usecases: EvidenceUseCases,
        *,
        concurrency: int = 2,
        poll_s: float = 1.0,
        sweep_every_s: float = 600.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self.usecases = usecases
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.sweep_every_s = sweep_every_s
        self._wake = asyncio.Event()
        self._running = asyncio.Event()
        self._running.set()
        self._busy = asyncio.Lock()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._swept_at = time.monotonic()

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.usecases.on_received = self.wake
        self._task = asyncio.create_task(self._run(), name="evidence-verifier")

    async def stop(self) -> None:
        """After the uploads in hand (a lease left unfinished would wait out its time)."""
        self._stopping.set()
        self._running.set()
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def pause(self) -> None:
        """The background loop takes no new upload until ``resume``; returns once those in
        hand are finished. For an operator's maintenance window, and for the benchmark, which
        measures accepting uploads and verifying them as two figures (docs/adr/0010)."""
        self._running.clear()
        async with self._busy:
            pass

    def resume(self) -> None:
        self._running.set()
        self._wake.set()

    async def drain(self, *, until_paused: bool = False) -> int:
        """Received uploads verified until none is left (or, ``until_paused``, until
        ``pause``), ``concurrency`` at a time; how many."""
        async with self._busy:
            try:
                async with asyncio.TaskGroup() as workers:  # one fails: all stop
                    done = [
                        workers.create_task(self._worker(until_paused))
                        for _ in range(self.concurrency)
                    ]
            finally:
                await self.usecases.remove_spent()
        return sum(task.result() for task in done)

    async def _worker(self, until_paused: bool) -> int:
        """One at a time: lease a couple (a transaction each time: cheap beside a photo's
        verification, and a short lease keeps the other workers busy to the end)."""
        done = 0
        while not self._stopping.is_set() and not (until_paused and not self._running.is_set()):
            leased = await self.usecases.lease_received(_LEASED_AT_ONCE)
            if not leased:
                return done
            for one in leased:
                try:
                    await self.usecases.verify_received(one)
                except Exception:
                    # A bug: the lease runs out and the upload is tried again, up to its limit.
                    log.exception("verifying %s failed", one.upload.id)
            done += len(leased)
            if len(self.usecases.spent) >= _SPENT_AT_ONCE:
                await self.usecases.remove_spent()
        return done

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._running.wait()
            if self._stopping.is_set():
                return
            self._wake.clear()
            done = 0
            try:
                done = await self.drain(until_paused=True)
                if not done and self._running.is_set():
                    # Idle: photos a previous version of the hash hashed, a few at a time.
                    done = await self.usecases.rehash_stale()
                if time.monotonic() - self._swept_at >= self.sweep_every_s:
                    self._swept_at = time.monotonic()
                    swept = await self.usecases.sweep_staging()
                    if swept:
                        log.info("swept %d staged object versions", swept)
            except Exception as error:  # the database or S3 down: the next round retries
                log.warning("verifier round failed (%s: %s)", type(error).__name__, error)
            if not done:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_s)
