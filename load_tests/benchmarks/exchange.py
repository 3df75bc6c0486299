"""The exchange's registry import: a 1,000,000-row bureau file through ``ImportFile`` (CSV
parsed in batches, validated in columnar batches by the real validation service over gRPC,
COPY into staging, one upsert per batch), against the same rows imported one by one
(``Validate`` per row, an upsert and a commit per row), in the same run."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator

import numpy as np

from load_tests.cpu import cores_between, cpu_by_process
from load_tests.harness import BenchContext, BenchResult, Measure, benchmark, note
from load_tests.stats import median

ROWS = 1_000_000
TARGET = 50_000  # rows/s
BAD_SHARE = 0.02  # rows a bureau gets wrong: rejected and reported, not applied
ROW_BY_ROW_SAMPLE = 5_000
CHUNK = 1024 * 1024
SEED = 29
HEADER = (
    "record_id,version,region_code,equipment_code,registration_no,address,manufacture_date,"
    "install_date,registration_date,last_inspection_date,next_inspection_due,landings,"
    "rope_count,rated_speed_mps"
)


def registry_csv(rows: int, seed: int = SEED) -> tuple[bytes, int]:
    """A bureau's registry export (our column names) and how many of its rows are bad."""
    rng = np.random.default_rng(seed)
    districts = np.array(["430202", "430203", "430204", "430211", "430212"])
    region = districts[rng.integers(0, len(districts), rows)]
    year = rng.integers(1998, 2024, rows)
    month = rng.integers(1, 13, rows)
    installed = [dt.date(int(y), int(m), 1) for y, m in zip(year, month, strict=True)]
    landings = rng.integers(6, 34, rows)
    bad = rng.random(rows) < BAD_SHARE
    lines = [HEADER]
    for i in range(rows):
        inst = installed[i]
        code = f"3110{region[i]}{inst.year:04d}{inst.month:02d}{i % 10000:04d}"
        if bad[i]:
            code = code[:12]  # REG_EQUIPMENT_CODE_FORMAT
        last = dt.date(2025, 1 + i % 12, 1 + i % 28)
        lines.append(
            f"R{i:07d},1,{region[i]},{code},梯11湘B{i % 100000:05d}({inst.year % 100:02d}),"
            f"株洲市某小区{i % 500}栋,{inst.replace(day=1) - dt.timedelta(days=90)},{inst},"
            f"{inst + dt.timedelta(days=60)},{last},{last + dt.timedelta(days=365)},"
            f"{landings[i]},{4 + i % 5},1.75"
        )
    return ("\n".join(lines) + "\n").encode(), int(bad.sum())


async def _start(ctx: BenchContext) -> tuple[str, object]:
    from services.exchange.__main__ import MIGRATIONS
    from services.exchange.server import SCHEMA, build_app
    from services.exchange.settings import ExchangeSettings
    from services.validation.server import build_app as build_validation
    from services.validation.settings import ValidationSettings
    from shared.migrations import upgrade

    environ = ctx.service_environ()
    validation = build_validation(ValidationSettings.from_env(environ), port=0)
    server, port = await validation.start()
    ctx.exits.push_async_callback(validation.stop, server)
    settings = ExchangeSettings.from_env(
        {**environ, "VALIDATION_ADDR": f"127.0.0.1:{port}", "EXCHANGE_RELAY": "false"}
    )
    note("migrating and starting the exchange service …")
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, usecases = build_app(settings, port=0)
    xserver, xport = await app.start()
    ctx.exits.push_async_callback(app.stop, xserver)
    return f"127.0.0.1:{xport}", usecases


@benchmark("exchange_registry_import")
async def registry_import(ctx: BenchContext) -> BenchResult:
    import grpc

    from elevins.exchange.v1 import exchange_pb2 as pb
    from elevins.exchange.v1 import exchange_pb2_grpc
    from services.exchange.domain.records import KINDS, parse_batch
    from services.exchange.store import ExchangeStore
    from shared.auth import Principal, Role, mint_token, set_principal

    addr, usecases = await _start(ctx)
    note(f"drawing a {ROWS:,}-row registry file …")
    data, bad_rows = await asyncio.to_thread(registry_csv, ROWS)
    rounds = 0

    async def bulk() -> tuple[float, object, dict[str, float]]:
        nonlocal rounds
        rounds += 1
        # A new importer each round: fresh records, so every round writes every row.
        token = mint_token(ctx.auth_key, subject=f"bench-msb-{rounds}", role="service",
                           regions=("*",), ttl_seconds=3600)  # fmt: skip

        async def messages() -> AsyncIterator[pb.ImportFileRequest]:
            yield pb.ImportFileRequest(
                header=pb.ImportFileHeader(request_id=f"bench-{rounds}", kind="registry")
            )
            for at in range(0, len(data), CHUNK):
                yield pb.ImportFileRequest(chunk=data[at : at + CHUNK])

        async with grpc.aio.insecure_channel(addr) as channel:
            stub = exchange_pb2_grpc.ExchangeServiceStub(channel)
            before = cpu_by_process()
            start = time.perf_counter()
            final = None
            async for reply in stub.ImportFile(
                messages(), metadata=(("authorization", f"Bearer {token}"),), timeout=900
            ):
                final = reply.report
            elapsed = time.perf_counter() - start
            cpu = cores_between(before, cpu_by_process(), elapsed)
        assert final is not None and final.state == "done", final
        if (final.rows, final.rejected, final.applied) != (ROWS, bad_rows, ROWS - bad_rows):
            raise AssertionError(f"import report disagrees with the file: {final}")
        return ROWS / elapsed, final, {group: cores * elapsed for group, cores in cpu.items()}

    # The row-by-row path: the same rows, each validated by Validate and upserted and committed
    # on its own (the plain way; what the bulk path replaces).
    kind = KINDS["registry"]
    lines = data.decode().splitlines()[1 : ROW_BY_ROW_SAMPLE + 1]
    header = HEADER.split(",")
    columns = {h: [ln.split(",")[j] for ln in lines] for j, h in enumerate(header)}
    set_principal(Principal("bench-row-by-row", Role.SERVICE, frozenset({"*"}), 2**62))
    parsed = parse_batch(
        kind, list(range(2, len(lines) + 2)), columns, allowed_regions=frozenset({"*"})
    )
    epoch = dt.date(1970, 1, 1)

    def values(i: int) -> dict[str, object]:
        out: dict[str, object] = {}
        for f in kind.fields:
            c = parsed.columns[f.name]
            if c.nulls[i]:
                out[f.name] = None
            elif f.type.value == "date":
                out[f.name] = epoch + dt.timedelta(days=int(c.values[i]))
            else:
                out[f.name] = c.values[i] if isinstance(c.values, list) else c.values[i].item()
        return out

    samples = [(i, values(i)) for i in range(len(lines))]
    rule_set = await usecases.validation.rule_set("registry")
    row_rounds = 0

    async def row_by_row(seconds: float) -> float:
        nonlocal row_rounds
        row_rounds += 1
        partner = f"bench-rows-{row_rounds}"
        done = 0
        start = time.perf_counter()
        for i, record in samples:
            failed = await usecases.validation.validate_one(
                "registry",
                {k: v for k, v in record.items() if k in rule_set.fields},
                on="2026-01-01",
            )
            if not any(rule_set.rules[c].severity == "error" for c in failed):

                async def work(store: ExchangeStore, i: int = i, record: dict = record) -> str:
                    return await store.apply_one(
                        kind, partner_id=partner, import_id="bench", record_id=parsed.record_ids[i],
                        version=int(parsed.versions[i]), region_code=parsed.regions[i],
                        values=record, flags=None,
                    )  # fmt: skip

                await usecases.transaction(work)
            done += 1
            if time.perf_counter() - start >= seconds:
                break
        return done / (time.perf_counter() - start)

    seconds = 4.0 * ctx.time_scale
    note("row by row (warm-up) …")
    await row_by_row(1.0)
    note("bulk import of 1,000,000 rows …")
    baseline_rates = [await row_by_row(seconds)]
    bulk_rate, _, cpu_s = await bulk()
    baseline_rates.append(await row_by_row(seconds))
    rate = bulk_rate
    baseline = median(baseline_rates)
    # Other agents share these two cores, so the wall-clock rate swings with their load; the
    # CPU seconds swing much less. This process (client, exchange and validation) and
    # PostgreSQL each keep about one core busy and the import overlaps them, so on two quiet
    # cores it could take as little as the larger of the two: the ceiling, not a promise.
    python_s, postgres_s = cpu_s.get("load", 0.0), cpu_s.get("postgresql", 0.0)
    ceiling = ROWS / max(python_s, postgres_s, 1e-9)
    return BenchResult(
        Measure(
            "exchange_registry_import",
            "rows/s",
            rate,
            {
                "seconds_for_1m_rows": round(ROWS / rate, 2),
                "rows": ROWS,
                "rejected": bad_rows,
                "cpu_seconds": {"python": round(python_s, 2), "postgresql": round(postgres_s, 2)},
                "rows_per_s_ceiling_two_quiet_cores": round(ceiling),
            },
        ),
        Measure(
            "exchange_registry_row_by_row", "rows/s", baseline, {"rounds": len(baseline_rates)}
        ),
        extra={
            "target_rows_per_s": TARGET,
            "meets_target": rate >= TARGET,
            "ceiling_meets_target": ceiling >= TARGET,
        },
        note=(
            f"{ROWS:,} registry rows ({BAD_SHARE:.0%} bad, rejected and reported) streamed as CSV "
            "through ImportFile: parsed in 50,000-row batches, validated by the validation "
            "service's ValidateBatches over loopback gRPC, binary-COPY'd into staging and applied "
            "with one upsert and one commit per batch, batch N+1 parsed and validated while N is "
            "written; client, exchange and validation share this process. Baseline: the same rows "
            "one by one (Validate, upsert, commit), before and after the bulk round. Target "
            f"{TARGET:,} rows/s. CPU seconds of the bulk round: this process {python_s:.1f} s, "
            f"PostgreSQL {postgres_s:.1f} s (ceiling on two quiet cores: {ceiling:,.0f} rows/s)."
        ),
    )
