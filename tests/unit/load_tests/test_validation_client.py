"""The ValidateBatches client of ``validation_grpc_rows``: its claims, its bytes, its rounds."""

import secrets
from datetime import date

import numpy as np
import pytest

from elevins.validation.v1 import validation_pb2 as pb
from load_tests.bench import BENCHMARKS
from load_tests.validation_client import (
    FAILING_SHARE,
    BatchSpec,
    Prepare,
    StreamClient,
    StreamRound,
    claims_columns,
    request_bytes,
    start_stream_echo,
)
from services.validation.core.batch import build_batch
from services.validation.core.rules import load_rule_set
from services.validation.core.vectorised import compile_rule_set, evaluate

ON = date(2025, 12, 31)
FIELDS = {name: str(kind) for name, kind in load_rule_set("claims").fields.items()}


def _failing(rows: int, seed: int) -> tuple[int, set[str]]:
    rule_set = load_rule_set("claims")
    columns, nulls = claims_columns(rows, seed)
    result = evaluate(
        compile_rule_set(rule_set), build_batch(rule_set.fields, columns, nulls), on=ON
    )
    failed = result.failed.any(axis=0)
    codes = {result.codes[i] for i in np.flatnonzero(result.failed.any(axis=1))}
    return int(failed.sum()), codes


def test_about_a_tenth_of_the_claims_fail_and_every_rule_fires():
    failing, codes = _failing(20_000, seed=1)
    assert abs(failing / 20_000 - FAILING_SHARE) < 0.01
    # One fault per rule, but for the two no realistic claim breaks (no record, no amount).
    assert len(codes) == 10
    assert not codes & {"CLAIM_INSPECTION_UNKNOWN", "CLAIM_AMOUNT_NOT_POSITIVE"}


def test_the_good_claims_carry_nulls_where_a_null_is_ordinary():
    _, nulls = claims_columns(10_000, seed=2)
    assert 0.6 < nulls["days_since_previous_same_part_claim"].mean() < 0.75


def test_the_request_bytes_are_the_packed_columns():
    spec = BatchSpec("b", 1_000, seed=3, failing=0)
    request = pb.ValidateBatchesRequest.FromString(request_bytes(spec, FIELDS, "2025-12-31"))
    columns, nulls = claims_columns(1_000, seed=3)
    assert request.batch_id == "b" and request.rule_set == "claims"
    by_name = {c.name: c for c in request.columns}
    assert list(by_name) == list(FIELDS)
    assert list(by_name["loss_date"].dates) == columns["loss_date"].tolist()
    assert list(by_name["contractor_list"].strings) == columns["contractor_list"].tolist()
    nulled = by_name["days_since_previous_same_part_claim"].nulls
    assert list(nulled) == np.flatnonzero(nulls["days_since_previous_same_part_claim"]).tolist()


def test_the_benchmark_is_registered():
    assert "validation_grpc_rows" in {b.name for b in BENCHMARKS}


async def _validation_app(auth_key: str):
    from services.validation.server import build_app
    from services.validation.settings import ValidationSettings

    settings = ValidationSettings.from_env(
        {"ELEVINS_AUTH_KEY": auth_key, "DATABASE_URL": "postgresql://unused/validation"}
    )
    return build_app(settings, port=0)


async def test_rounds_in_the_child_count_rows_and_check_the_failures_against_the_core():
    from shared.auth import mint_token

    key = secrets.token_hex(32)
    token = mint_token(key, subject="t", role="partner", regions=("*",), ttl_seconds=600)
    metadata = (("authorization", f"Bearer {token}"),)
    specs = tuple(BatchSpec(f"b{i}", 2_000, i, _failing(2_000, i)[0]) for i in range(2))
    app = await _validation_app(key)
    server, port = await app.start()
    echo, echo_port = await start_stream_echo()
    try:
        async with StreamClient() as client:
            sizes = await client.prepare(Prepare(specs, FIELDS, "2025-12-31"))
            assert len(sizes) == 2 and min(sizes) > 2_000
            validated = await client.run(
                StreamRound("validate", f"127.0.0.1:{port}", 0.2, 3, metadata)
            )
            echoed = await client.run(StreamRound("echo", f"127.0.0.1:{echo_port}", 0.2, 3))
            # A wrong expectation fails the round, as a wrong reply would.
            await client.prepare(Prepare((BatchSpec("x", 2_000, 0, 1),), FIELDS, "2025-12-31"))
            with pytest.raises(RuntimeError, match="failing rows"):
                await client.run(StreamRound("validate", f"127.0.0.1:{port}", 0.1, 1, metadata))
    finally:
        await echo.stop(None)
        await app.stop(server)
    for result in (validated, echoed):
        assert result.batches % 3 == 0 and result.rows == result.batches * 2_000
        assert result.rate > 0 and result.p50_ms > 0
    assert validated.failures > 0 and echoed.failures == 0
