"""``verify-audit``: recompute every claim's hash chain and report the first broken link."""

from __future__ import annotations

from services.claims.domain.audit import verify_chain
from services.claims.settings import ClaimsSettings
from services.claims.store import ClaimsStore
from shared.db import UnitOfWork, create_engine


async def verify_audit(settings: ClaimsSettings, *, claim_id: str | None) -> int:
    """Exit status: 0 if every chain verifies, 1 if any is broken (each is printed)."""
    engine = create_engine(settings.database_url, schema="claims", pool_size=1)
    broken = 0
    try:
        async with UnitOfWork(engine) as uow:
            store = ClaimsStore(uow.conn)
            claim_ids = [claim_id] if claim_id else await store.audited_claim_ids()
            for cid in claim_ids:
                report = verify_chain(await store.audit_trail(cid))
                if report.ok:
                    print(f"{cid}: ok ({report.checked} events)")
                else:
                    broken += 1
                    print(f"{cid}: BROKEN at seq {report.first_broken_seq}: {report.problem}")
    finally:
        await engine.dispose()
    print(f"{len(claim_ids)} chains checked, {broken} broken")
    return 1 if broken else 0
