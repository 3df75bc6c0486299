"""The pricing schema: the only module that speaks SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

m = sa.MetaData()

imports = sa.Table(
    "imports",
    m,
    sa.Column("caller", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("fingerprint", sa.LargeBinary),
    sa.Column("response", sa.LargeBinary),
)
observations = sa.Table(
    "observations",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("category", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("brand", sa.Text),
    sa.Column("spec", sa.Text),
    sa.Column("region", sa.Text),
    sa.Column("observed_on", sa.Date),
    sa.Column("unit_price_fen", sa.BigInteger),
    sa.Column("unit", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("imported_by", sa.Text),
    sa.Column("import_request_id", sa.Text),
)


@dataclass(frozen=True)
class StoredObservation:
    category: str
    description: str
    brand: str | None
    spec: str | None
    region: str
    observed_on: date
    unit_price_fen: int
    unit: str
    source: str


class PricingStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def previous_import(self, caller: str, request_id: str) -> tuple[bytes, bytes] | None:
        row = (
            await self.conn.execute(
                sa.select(imports.c.fingerprint, imports.c.response).where(
                    imports.c.caller == caller, imports.c.request_id == request_id
                )
            )
        ).first()
        return None if row is None else (row.fingerprint, row.response)

    async def claim_import(
        self, caller: str, request_id: str, fingerprint: bytes, response: bytes
    ) -> bool:
        """False if the same request id was imported (or is being imported) already."""
        result = await self.conn.execute(
            pg.insert(imports)
            .values(
                caller=caller, request_id=request_id, fingerprint=fingerprint, response=response
            )
            .on_conflict_do_nothing()
            .returning(imports.c.request_id)
        )
        return result.first() is not None

    async def add_observations(
        self, rows: Sequence[StoredObservation], *, caller: str, request_id: str
    ) -> None:
        if rows:
            await self.conn.execute(
                observations.insert(),
                [
                    {**row.__dict__, "imported_by": caller, "import_request_id": request_id}
                    for row in rows
                ],
            )

    async def all_observations(self) -> list[StoredObservation]:
        rows = await self.conn.execute(
            sa.select(
                observations.c.category,
                observations.c.description,
                observations.c.brand,
                observations.c.spec,
                observations.c.region,
                observations.c.observed_on,
                observations.c.unit_price_fen,
                observations.c.unit,
                observations.c.source,
            ).order_by(observations.c.id)
        )
        return [StoredObservation(*r) for r in rows]

    async def observations_mark(self) -> tuple[int, int]:
        """(count, highest id): changes whenever observations are added, anywhere."""
        row = (
            await self.conn.execute(
                sa.select(sa.func.count(), sa.func.coalesce(sa.func.max(observations.c.id), 0))
            )
        ).one()
        return int(row[0]), int(row[1])
