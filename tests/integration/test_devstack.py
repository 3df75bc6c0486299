"""devstack starts a real PostgreSQL and a real S3, and leaves nothing behind.

These tests start their own stacks in tmp dirs (with DATABASE_URL / S3_* removed from the
environment), independent of the session stack other integration tests share.
"""

import asyncio
import io
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import asyncpg
import pytest
from minio import Minio
from minio.error import S3Error

from devstack import postgres, s3
from devstack.procs import pid_alive
from devstack.s3 import S3Credentials, make_client
from devstack.stack import STATE_FILE, StackEnv, read_state, running_stack

pytestmark = pytest.mark.integration

STACK_VARIABLES = ("DATABASE_URL", "S3_ENDPOINT", "S3_ACCESS_KEY", "S3_SECRET_KEY", "S3_BUCKET")


@pytest.fixture(autouse=True)
def _no_external_stack(monkeypatch):
    # Under `make test` these may point at the session's stack; here we want our own.
    for name in STACK_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def base(tmp_path):
    """The stack's dir; whatever a failed test left running there is stopped afterwards."""
    path = tmp_path / "stack"
    yield path
    postgres.stop_leftovers(path / "pg")
    s3.stop_leftovers(path / "s3")


def _client(env: StackEnv, secret_key: str | None = None) -> Minio:
    return make_client(
        env.s3_endpoint, S3Credentials(env.s3_access_key, secret_key or env.s3_secret_key)
    )


async def _query(url: str, sql: str) -> object:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def _execute(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url, timeout=10)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _assert_nothing_left(base: Path, pids: list[int]) -> None:
    assert postgres.leftover_pids(base / "pg") == []
    assert s3.leftover_pids(base / "s3") == []
    assert not any(pid_alive(pid) for pid in pids)
    assert not (base / STATE_FILE).exists()


def test_ephemeral_stack_serves_postgres_and_s3_and_cleans_up(base):
    with running_stack(base, ephemeral=True) as env:
        assert env.database_url.startswith("postgresql://postgres:")
        assert "@127.0.0.1:" in env.database_url
        assert asyncio.run(_query(env.database_url, "SELECT 1")) == 1
        assert asyncio.run(_query(env.database_url, "SHOW fsync")) == "off"  # test stacks: fast

        client = _client(env)
        client.put_object(env.s3_bucket, "claims/1/photo.jpg", io.BytesIO(b"jpeg"), 4)
        response = client.get_object(env.s3_bucket, "claims/1/photo.jpg")
        try:
            assert response.read() == b"jpeg"
        finally:
            response.close()
            response.release_conn()

        with pytest.raises(S3Error) as wrong_secret:
            _client(env, secret_key="not-the-secret").get_object(
                env.s3_bucket, "claims/1/photo.jpg"
            )
        assert wrong_secret.value.code in {
            "SignatureDoesNotMatch",
            "AccessDenied",
            "InvalidAccessKeyId",
        }
        anonymous = Minio(env.s3_endpoint, secure=False, region="us-east-1")
        with pytest.raises(S3Error):
            anonymous.get_object(env.s3_bucket, "claims/1/photo.jpg")

        assert read_state(base) == env.as_environ()
        for secret in (base / "pg.password", base / "s3.credentials", base / "s3.iam.json"):
            assert secret.stat().st_mode & 0o077 == 0, secret
        pids = postgres.leftover_pids(base / "pg") + s3.leftover_pids(base / "s3")
        assert pids
        s3_port = int(env.s3_endpoint.rpartition(":")[2])

    _assert_nothing_left(base, pids)
    for port in (s3_port, s3_port + 10_000):  # weed's unix sockets are named after its ports
        assert not list(Path("/tmp").glob(f"seaweedfs-*-{port}.sock"))


def test_restart_reuses_data_and_recovers_from_a_killed_run(base):
    """A devstack killed with SIGKILL orphans its servers; the next start stops them,
    clears the stale postmaster.pid and opens the same data again."""
    script = textwrap.dedent(
        f"""
        import io, sys, time
        from pathlib import Path
        from devstack.stack import running_stack
        from devstack.s3 import S3Credentials, make_client
        with running_stack(Path({str(base)!r}), ephemeral=False) as env:
            creds = S3Credentials(env.s3_access_key, env.s3_secret_key)
            client = make_client(env.s3_endpoint, creds)
            client.put_object(env.s3_bucket, "kept", io.BytesIO(b"v1"), 2)
            print(env.database_url, flush=True)
            time.sleep(120)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        first_url = proc.stdout.readline().strip()
        assert first_url.startswith("postgresql://"), "the child stack did not start"
        asyncio.run(_execute(first_url, "CREATE TABLE kept (id int); INSERT INTO kept VALUES (7)"))
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    orphans = postgres.leftover_pids(base / "pg") + s3.leftover_pids(base / "s3")
    assert orphans, "the killed run should have left its servers running"

    started = time.monotonic()
    with running_stack(base, ephemeral=False) as env:
        restart_seconds = time.monotonic() - started
        assert asyncio.run(_query(env.database_url, "SELECT id FROM kept")) == 7
        response = _client(env).get_object(env.s3_bucket, "kept")
        try:
            assert response.read() == b"v1"
        finally:
            response.close()
            response.release_conn()
        pids = postgres.leftover_pids(base / "pg") + s3.leftover_pids(base / "s3")
    _assert_nothing_left(base, pids + orphans)
    assert restart_seconds < 30


def test_sigterm_stops_the_stack_cleanly(base):
    script = textwrap.dedent(
        f"""
        import time
        from pathlib import Path
        from devstack.stack import running_stack
        with running_stack(Path({str(base)!r}), ephemeral=True) as env:
            print("up", flush=True)
            time.sleep(120)
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in STACK_VARIABLES}
    proc = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "up"
        pids = postgres.leftover_pids(base / "pg") + s3.leftover_pids(base / "s3")
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert pids
    _assert_nothing_left(base, pids)
