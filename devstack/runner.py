"""`python -m devstack run`: storage, migrations, seeds, services, until Ctrl-C.

Order of events: start PostgreSQL + S3 → migrate every service (in parallel) → start every
service → wait for each health check → seed, service by service → print the "ready" block →
watch.
On Ctrl-C/SIGTERM: SIGTERM to every service, SIGKILL after 10 s, then stop S3 and
PostgreSQL; exit 0. If a service dies on its own: say so, stop everything, exit 1.

Signals only set a flag here (`StopFlag`); every wait loop checks it. An exception thrown at
an arbitrary point could land between a child's start and our record of it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack import procs
from devstack.credentials import write_private
from devstack.ports import pick_port, release_port
from devstack.services import (
    ENV_AUTH_KEY,
    ENV_WEB_DEMO_PASSWORD,
    METRICS_PORT_OFFSET,
    ServiceSpec,
    address,
    addresses_environ,
    build_service_env,
    demo_tokens,
    ensure_auth_key,
    ensure_web_demo_password,
    metrics_environ,
    ready_text,
)
from devstack.signals import StopFlag, shielded
from devstack.stack import StackBusyError, StackEnv, running_stack

log = logging.getLogger("devstack")

ROOT = Path(__file__).resolve().parent.parent
SERVICES_STATE_FILE = "services.json"
STEP_TIMEOUT = 300.0  # a migration or a seed
HEALTH_TIMEOUT = 90.0
STOP_GRACE = 10.0
_print_lock = threading.Lock()


class StartupFailed(RuntimeError):
    """A step before "ready" failed; the message says which and why."""


class Stopped(Exception):
    """Ctrl-C or SIGTERM arrived while starting up."""


def _emit(text: str) -> None:
    with _print_lock:
        sys.stdout.write(text)
        sys.stdout.flush()


@dataclass
class Child:
    """A service-related child process whose output we collect or relay."""

    label: str
    proc: subprocess.Popen[bytes]
    relay: bool  # prefix each line with the label and print it as it comes
    output: list[str] = field(default_factory=list)
    _pump: threading.Thread | None = None

    @classmethod
    def start(cls, label: str, cmd: list[str], env: Mapping[str, str], *, relay: bool) -> Child:
        proc = subprocess.Popen(  # noqa: S603 (our own interpreter and modules, no shell)
            cmd,
            cwd=ROOT,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop children in order
        )
        child = cls(label=label, proc=proc, relay=relay)
        child._pump = threading.Thread(target=child._read, name=f"out-{label}", daemon=True)
        child._pump.start()
        return child

    def _read(self) -> None:
        assert self.proc.stdout is not None
        stream: IO[bytes] = self.proc.stdout
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if self.relay:
                _emit(f"{self.label:>11} | {line}\n")
            else:
                self.output.append(line)
        stream.close()

    def finish_output(self) -> str:
        if self._pump is not None:
            self._pump.join(timeout=2.0)
        return "\n".join(self.output)


def _stop_children(children: Sequence[Child], grace: float = STOP_GRACE) -> None:
    """SIGTERM to every child's process group at once, then wait; SIGKILL what is left."""
    for child in children:
        if child.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        remaining = max(0.1, deadline - time.monotonic())
        procs.stop_child(child.proc, timeout=remaining, whole_group=True, name=child.label)
        child.finish_output()


def _run_steps(
    steps: Sequence[tuple[str, list[str], Mapping[str, str]]], stop: StopFlag, what: str
) -> dict[str, str]:
    """Run one-shot commands in parallel; label → output. Raises on failure or stop."""
    if not steps:
        return {}
    begun = time.monotonic()
    children = [Child.start(label, cmd, env, relay=False) for label, cmd, env in steps]
    try:
        deadline = begun + STEP_TIMEOUT
        while any(c.proc.poll() is None for c in children):
            if stop:
                raise Stopped
            if time.monotonic() > deadline:
                raise StartupFailed(f"{what} took longer than {STEP_TIMEOUT:.0f}s")
            stop.event.wait(0.1)
    finally:
        _stop_children(children, grace=5.0)  # no-op for the ones that finished
    outputs = {c.label: c.finish_output() for c in children}
    failed = [c for c in children if c.proc.returncode != 0]
    if failed:
        report = "\n".join(
            f"--- {c.label} exited with {c.proc.returncode}:\n{outputs[c.label]}" for c in failed
        )
        raise StartupFailed(f"{what} failed:\n{report}")
    log.info("%s: done in %.2fs (%s)", what, time.monotonic() - begun, ", ".join(outputs))
    return outputs


def _module_cmd(spec: ServiceSpec, command: str) -> list[str]:
    return [sys.executable, "-m", spec.module, command]


def _check_grpc(addr: str) -> str | None:
    """None when SERVING, otherwise why not (for the timeout message)."""
    with grpc.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
        except grpc.RpcError as exc:
            code = exc.code() if isinstance(exc, grpc.Call) else None
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return "health check needs a token: grpc.health.v1.Health must be public"
            return f"{code.name if code else 'error'}"
    if reply.status == health_pb2.HealthCheckResponse.SERVING:
        return None
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def _check_http(addr: str) -> str | None:
    try:
        with urllib.request.urlopen(f"http://{addr}/healthz", timeout=1.0) as reply:
            return None if reply.status == 200 else f"HTTP {reply.status}"
    except (urllib.error.URLError, OSError) as exc:
        return str(exc)


def _wait_healthy(
    services: Mapping[str, Child],
    specs: Sequence[ServiceSpec],
    ports: Mapping[str, int],
    stop: StopFlag,
) -> None:
    begun = time.monotonic()
    pending = {spec.name: spec for spec in specs}
    why: dict[str, str] = {}
    while pending:
        if stop:
            raise Stopped
        for name, spec in list(pending.items()):
            child = services[name]
            if child.proc.poll() is not None:
                raise StartupFailed(f"{name} exited with {child.proc.returncode} while starting")
            check = _check_grpc if spec.kind == "grpc" else _check_http
            problem = check(address(ports[name]))
            if problem is None:
                log.info("%s: healthy after %.2fs", name, time.monotonic() - begun)
                del pending[name]
            else:
                why[name] = problem
        if time.monotonic() - begun > HEALTH_TIMEOUT:
            details = ", ".join(f"{n}: {why.get(n, '?')}" for n in pending)
            raise StartupFailed(f"not healthy after {HEALTH_TIMEOUT:.0f}s: {details}")
        if pending:
            stop.event.wait(0.2)


def _watch(services: Mapping[str, Child], stop: StopFlag) -> int:
    """Until a signal (→ 0) or a service dying on its own (→ 1)."""
    while not stop:
        for name, child in services.items():
            code = child.proc.poll()
            if code is not None:
                log.error("service %s exited on its own with code %s; stopping", name, code)
                return 1
        stop.event.wait(0.5)
    log.info("received %s; stopping", stop.signal_name or "a stop request")
    return 0


def _choose_ports(specs: Sequence[ServiceSpec], *, offset: int = 0) -> dict[str, int]:
    ports: dict[str, int] = {}
    for spec in specs:
        preferred = spec.port + offset
        port = pick_port(preferred=preferred)
        if port != preferred:
            log.warning("%s: port %d is taken; using %d", spec.name, preferred, port)
        ports[spec.name] = port
    return ports


def _serve(base_dir: Path, stack: StackEnv, specs: Sequence[ServiceSpec], stop: StopFlag) -> int:
    from shared.auth import mint_token  # the services' own code: import only when running

    begun = time.monotonic()
    auth_key = ensure_auth_key(base_dir / "secrets" / "auth_key")
    ports = _choose_ports(specs)
    metrics_ports = _choose_ports(
        [s for s in specs if s.kind == "grpc"], offset=METRICS_PORT_OFFSET
    )
    envs = {
        s.name: build_service_env(
            os.environ, stack, auth_key=auth_key, spec=s, ports=ports, metrics_ports=metrics_ports
        )
        for s in specs
    }
    web_password = ensure_web_demo_password(base_dir / "secrets" / "web_demo_password")
    if "web" in envs:
        envs["web"][ENV_WEB_DEMO_PASSWORD] = web_password
    _run_steps(
        [(s.name, _module_cmd(s, "migrate"), envs[s.name]) for s in specs if s.migrate],
        stop,
        "migrations",
    )
    services: dict[str, Child] = {}
    try:
        for spec in specs:
            services[spec.name] = Child.start(
                spec.name, _module_cmd(spec, "serve"), envs[spec.name], relay=True
            )
        for port in [*ports.values(), *metrics_ports.values()]:
            release_port(port)
        _wait_healthy(services, specs, ports, stop)
        # Seeds run against the serving stack, one service after another in start order:
        # the claims demo data is made through the policy service's API, like real data.
        for spec in (s for s in specs if s.seed):
            seeded = _run_steps(
                [(spec.name, _module_cmd(spec, "seed"), envs[spec.name])], stop, "seed"
            )
            for name, output in seeded.items():
                if output.strip():
                    _emit("".join(f"{name:>11} | {line}\n" for line in output.splitlines()))
        tokens = demo_tokens(auth_key, mint_token)
        write_private(
            base_dir / SERVICES_STATE_FILE,
            _state_json(
                {
                    ENV_AUTH_KEY: auth_key,
                    **addresses_environ(ports),
                    **metrics_environ(metrics_ports),
                }
            ),
        )
        log.info("services: ready in %.2fs", time.monotonic() - begun)
        _emit(ready_text(specs, ports, stack, tokens, metrics_ports, web_password))
        return _watch(services, stop)
    finally:
        with shielded("stopping the services"):
            (base_dir / SERVICES_STATE_FILE).unlink(missing_ok=True)
            _stop_children(list(services.values()))


def _state_json(environ: Mapping[str, str]) -> str:
    return json.dumps({"pid": os.getpid(), "environ": dict(environ)}, indent=2)


def run(base_dir: Path, specs: Sequence[ServiceSpec]) -> int:
    """Run storage and services until stopped; the process exit code."""
    begun = time.monotonic()
    try:
        with running_stack(base_dir, ephemeral=False) as stack, StopFlag() as stop:
            log.info("storage ready after %.2fs", time.monotonic() - begun)
            try:
                return _serve(base_dir, stack, specs, stop)
            except Stopped:
                log.info("received %s during startup; stopping", stop.signal_name or "a signal")
                return 0
            except StartupFailed as exc:
                log.error("%s", exc)
                return 1
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM while the storage was starting
        return 0
    except (StackBusyError, ValueError) as exc:  # a second `make run`, or a bad S3_* setup
        log.error("%s", exc)
        return 1
