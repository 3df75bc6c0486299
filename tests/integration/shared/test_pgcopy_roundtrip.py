"""PostgreSQL reads back, value for value, what the column-wise binary COPY encoder wrote."""

from __future__ import annotations

from datetime import date, timedelta

import asyncpg
import numpy as np
import pytest

from shared.db import asyncpg_url
from shared.pgcopy import CopyColumn, PgType, encode

pytestmark = pytest.mark.integration


async def test_every_type_round_trips_through_copy(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(asyncpg_url(fresh_database_url))
    try:
        await conn.execute(
            "CREATE TABLE t (a bigint, b integer, c double precision, d boolean, e text, f date)"
        )
        nulls = np.array([False, True, False])
        columns = [
            CopyColumn(PgType.INT8, np.array([-(2**63), 0, 2**63 - 1]), nulls),
            CopyColumn(PgType.INT4, np.array([-(2**31), 0, 7]), nulls),
            CopyColumn(PgType.FLOAT8, np.array([1.75, 0.0, -1e300]), nulls),
            CopyColumn(PgType.BOOL, np.array([True, False, False]), nulls),
            CopyColumn(PgType.TEXT, ["梯11湘B00001(18)", None, ""]),
            CopyColumn(PgType.DATE, np.array([-719_162, 0, 20_000]), nulls),
        ]
        await conn.copy_to_table(
            "t", source=encode(columns, 3), columns=list("abcdef"), format="binary"
        )
        rows = [tuple(r) for r in await conn.fetch("SELECT * FROM t")]
    finally:
        await conn.close()
    epoch = date(1970, 1, 1)
    assert rows == [
        (-(2**63), -(2**31), 1.75, True, "梯11湘B00001(18)", date(1, 1, 1)),
        (None, None, None, None, None, None),
        (2**63 - 1, 7, -1e300, False, "", epoch + timedelta(days=20_000)),
    ]
