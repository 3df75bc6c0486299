"""The storage a service needs, as one context manager: PostgreSQL + S3 → `StackEnv`.

```
with running_stack(Path(".devstack/run"), ephemeral=False) as env:
    subprocess.run(cmd, env=os.environ | env.as_environ())
```

The environment wins: with `DATABASE_URL` set no PostgreSQL is started, with `S3_ENDPOINT`
(+ `S3_ACCESS_KEY`, `S3_SECRET_KEY`) no S3 — so CI, or a developer with their own servers,
can point the same code at those instead.

Layout of `base_dir` (git-ignored under `.devstack/`):

    pg/  pg.password           PostgreSQL cluster and its superuser password (0600)
    s3/  s3.credentials        SeaweedFS data and the S3 access key/secret (0600)
    s3.iam.json                the identity file weed reads (0600)
    logs/                      postgres.log, weed.out, weed glog files
    stack.json                 the running stack's environment (0600), for `devstack env`
    .lock                      held while a stack runs on this dir
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import fcntl
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urlsplit, urlunsplit

from devstack import postgres, s3
from devstack.credentials import write_private
from devstack.ports import PortBusyError, pick_port, release_port
from devstack.procs import pid_alive
from devstack.signals import shielded, sigterm_raises

log = logging.getLogger("devstack")

DEFAULT_PG_PORT = 55432
STATE_FILE = "stack.json"
LOCK_FILE = ".lock"
_START_ATTEMPTS = 3  # a port probed free can be taken before the server binds it

ENV_DATABASE_URL = "DATABASE_URL"
ENV_S3_ENDPOINT = "S3_ENDPOINT"
ENV_S3_ACCESS_KEY = "S3_ACCESS_KEY"
ENV_S3_SECRET_KEY = "S3_SECRET_KEY"  # noqa: S105 (a variable name, not a secret)
ENV_S3_BUCKET = "S3_BUCKET"
ENV_S3_SECURE = "S3_SECURE"


@dataclass(frozen=True)
class StackEnv:
    """Where the storage is. `s3_endpoint` is host:port, as the minio client wants it."""

    database_url: str
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    s3_bucket: str = s3.BUCKET
    s3_secure: bool = False

    def as_environ(self) -> dict[str, str]:
        """The variables services read. S3_SECURE only appears when TLS is on."""
        environ = {
            ENV_DATABASE_URL: self.database_url,
            ENV_S3_ENDPOINT: self.s3_endpoint,
            ENV_S3_ACCESS_KEY: self.s3_access_key,
            ENV_S3_SECRET_KEY: self.s3_secret_key,
            ENV_S3_BUCKET: self.s3_bucket,
        }
        if self.s3_secure:
            environ[ENV_S3_SECURE] = "true"
        return environ

    def describe(self) -> list[tuple[str, str]]:
        """Human-readable (label, value) pairs with the secrets masked."""
        scheme = "https" if self.s3_secure else "http"
        return [
            ("PostgreSQL", mask_url(self.database_url)),
            ("S3", f"{scheme}://{self.s3_endpoint} bucket {self.s3_bucket}"),
        ]


def mask_url(url: str) -> str:
    """The URL with its password replaced by ****, for logs and the terminal."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    userinfo = f"{parts.username}:****" if parts.username is not None else ":****"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{userinfo}@{host}"))


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}


def parse_s3_endpoint(value: str, secure: bool = False) -> tuple[str, bool]:
    """`host:port` and whether to use TLS; accepts `http(s)://host:port` as well."""
    value = value.strip().rstrip("/")
    if "://" in value:
        parts = urlsplit(value)
        return parts.netloc, parts.scheme == "https"
    return value, secure


@dataclass(frozen=True)
class ExternalServices:
    """What the environment already provides; None means devstack starts its own."""

    database_url: str | None
    s3: StackEnv | None  # only the S3 fields are meaningful


def external_services(environ: Mapping[str, str]) -> ExternalServices:
    """Read DATABASE_URL / S3_* from the environment (empty values count as unset)."""
    database_url = environ.get(ENV_DATABASE_URL) or None
    endpoint = environ.get(ENV_S3_ENDPOINT) or None
    if endpoint is None:
        return ExternalServices(database_url=database_url, s3=None)
    access_key = environ.get(ENV_S3_ACCESS_KEY) or ""
    secret_key = environ.get(ENV_S3_SECRET_KEY) or ""
    if not access_key or not secret_key:
        raise ValueError(
            f"{ENV_S3_ENDPOINT} is set, so {ENV_S3_ACCESS_KEY} and {ENV_S3_SECRET_KEY} "
            "must be set too (or unset all three to let devstack start S3)"
        )
    host_port, secure = parse_s3_endpoint(endpoint, _truthy(environ.get(ENV_S3_SECURE)))
    external_s3 = StackEnv(
        database_url="",
        s3_endpoint=host_port,
        s3_access_key=access_key,
        s3_secret_key=secret_key,
        s3_bucket=environ.get(ENV_S3_BUCKET) or s3.BUCKET,
        s3_secure=secure,
    )
    return ExternalServices(database_url=database_url, s3=external_s3)


class StackBusyError(RuntimeError):
    """Another devstack process is running on the same base dir."""


@contextmanager
def _exclusive(base_dir: Path) -> Iterator[None]:
    """Hold `base_dir/.lock` for the stack's lifetime.

    Two stacks on one data dir would corrupt it, and leftover-process cleanup relies on it:
    while we hold the lock, a server working in our dir belongs to a dead run. The kernel
    drops the lock when its holder dies, even by kill -9, so it never goes stale.
    """
    handle: IO[str] = (base_dir / LOCK_FILE).open("a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            raise StackBusyError(
                f"another devstack (pid {holder}) is using {base_dir}; stop it first"
            ) from exc
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield
    finally:
        handle.close()


def _wipe(base_dir: Path) -> None:
    """Empty `base_dir` (keeping the lock we hold), after stopping leftovers that use it."""
    postgres.stop_leftovers(base_dir / "pg")
    s3.stop_leftovers(base_dir / "s3")
    for child in base_dir.iterdir():
        if child.name == LOCK_FILE:
            continue
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child)
        else:
            child.unlink()


class _Server(Protocol):
    def stop(self) -> None: ...


class _Started:
    """Servers started (or being started) by worker threads, to stop in reverse order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._servers: list[_Server] = []

    def add(self, server: _Server) -> None:
        with self._lock:
            self._servers.append(server)

    def stop_all(self) -> None:
        with self._lock:
            servers, self._servers = self._servers[::-1], []
        for server in servers:
            try:
                server.stop()
            except Exception:
                log.exception("could not stop %r cleanly", server)


def _start_postgres(
    base_dir: Path, *, ephemeral: bool, started: _Started, cancel: threading.Event
) -> str:
    for attempt in range(1, _START_ATTEMPTS + 1):
        preferred = DEFAULT_PG_PORT if not ephemeral and attempt == 1 else None
        server = postgres.PostgresServer(
            data_dir=base_dir / "pg",
            port=pick_port(preferred=preferred),
            log_path=base_dir / "logs" / "postgres.log",
            unsafe_fast=ephemeral,
        )
        started.add(server)
        try:
            return server.start(cancel)
        except PortBusyError:
            if attempt == _START_ATTEMPTS:
                raise
            log.warning("postgres: port %d was taken; retrying on another", server.port)
        finally:
            release_port(server.port)
    raise AssertionError("unreachable")


def _start_s3(
    base_dir: Path, *, ephemeral: bool, started: _Started, cancel: threading.Event
) -> StackEnv:
    for attempt in range(1, _START_ATTEMPTS + 1):
        ports = s3.WeedPorts.pick(prefer_defaults=not ephemeral and attempt == 1)
        server = s3.SeaweedS3(data_dir=base_dir / "s3", ports=ports, log_dir=base_dir / "logs")
        started.add(server)
        try:
            creds = server.start(cancel)
            return StackEnv(
                database_url="",
                s3_endpoint=server.endpoint,
                s3_access_key=creds.access_key,
                s3_secret_key=creds.secret_key,
                s3_bucket=server.bucket,
            )
        except PortBusyError:
            if attempt == _START_ATTEMPTS:
                raise
            log.warning("s3: a port was taken; retrying on others")
        finally:
            for port in ports.http_ports():
                release_port(port, with_grpc_twin=True)
    raise AssertionError("unreachable")


def _start_all(
    base_dir: Path, external: ExternalServices, *, ephemeral: bool, started: _Started
) -> StackEnv:
    """Start what the environment does not provide, PostgreSQL and S3 in parallel."""
    cancel = threading.Event()
    tasks: dict[str, Callable[[], object]] = {}
    if external.database_url is None:
        tasks["postgres"] = lambda: _start_postgres(
            base_dir, ephemeral=ephemeral, started=started, cancel=cancel
        )
    if external.s3 is None:
        tasks["s3"] = lambda: _start_s3(
            base_dir, ephemeral=ephemeral, started=started, cancel=cancel
        )
    with concurrent.futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="dev") as pool:
        futures = {name: pool.submit(task) for name, task in tasks.items()}
        try:
            results = {name: future.result() for name, future in futures.items()}
        except BaseException:
            # One failed or we were interrupted: the other start must not run on unattended.
            cancel.set()
            with shielded("stopping the stack"):
                concurrent.futures.wait(futures.values())
            raise
    database_url = results.get("postgres", external.database_url)
    s3_env = results.get("s3", external.s3)
    assert isinstance(database_url, str) and isinstance(s3_env, StackEnv)
    return StackEnv(
        database_url=database_url,
        s3_endpoint=s3_env.s3_endpoint,
        s3_access_key=s3_env.s3_access_key,
        s3_secret_key=s3_env.s3_secret_key,
        s3_bucket=s3_env.s3_bucket,
        s3_secure=s3_env.s3_secure,
    )


@contextmanager
def running_stack(base_dir: Path, *, ephemeral: bool) -> Iterator[StackEnv]:
    """PostgreSQL and S3 for the duration of the block.

    `ephemeral=True` (tests): wipes `base_dir` first, random free ports, durability off.
    `ephemeral=False` (`make run`): keeps data between runs, prefers ports 55432 (PostgreSQL)
    and 8333 (S3), falling back to free ones when those are taken.

    Everything started is stopped on exit, also on exceptions, Ctrl-C and SIGTERM.
    """
    begun = time.monotonic()
    base_dir = base_dir.absolute()
    external = external_services(os.environ)
    if external.database_url is not None and external.s3 is not None:
        # Nothing to start, so nothing to lock or wipe: `base_dir` may well be in use by the
        # devstack (or CI job) that provides these servers.
        log.info("stack: using DATABASE_URL and S3_ENDPOINT from the environment")
        yield replace(external.s3, database_url=external.database_url)
        return
    base_dir.mkdir(parents=True, exist_ok=True)
    started = _Started()
    with _exclusive(base_dir), sigterm_raises():
        try:
            if ephemeral:
                _wipe(base_dir)
            env = _start_all(base_dir, external, ephemeral=ephemeral, started=started)
            write_private(
                base_dir / STATE_FILE,
                json.dumps({"pid": os.getpid(), "environ": env.as_environ()}, indent=2),
            )
            log.info(
                "stack: ready in %.2fs (postgres %s, s3 %s)",
                time.monotonic() - begun,
                "external" if external.database_url else "started",
                "external" if external.s3 else "started",
            )
            yield env
        finally:
            with shielded("stopping the stack"):
                stopping = time.monotonic()
                (base_dir / STATE_FILE).unlink(missing_ok=True)
                started.stop_all()
                log.info("stack: stopped in %.2fs", time.monotonic() - stopping)


def read_state(base_dir: Path, name: str = STATE_FILE) -> dict[str, str] | None:
    """The environment a running devstack wrote to `base_dir/name`; None if not running."""
    path = base_dir / name
    with contextlib.suppress(OSError, ValueError):
        data = json.loads(path.read_text(encoding="utf-8"))
        if pid_alive(int(data["pid"])):
            return {str(k): str(v) for k, v in dict(data["environ"]).items()}
    return None
