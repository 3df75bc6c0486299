"""The elevins services as `make run` starts them: which ones, on which ports, with what env.

Everything here is plain data and pure functions; `devstack.runner` does the processes.
Adding a service to `make run` is one line in `SERVICES`.
"""

from __future__ import annotations

import secrets
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from devstack.credentials import read_or_create
from devstack.ports import LOOPBACK
from devstack.stack import StackEnv

ENV_AUTH_KEY = "ELEVINS_AUTH_KEY"
ENV_BIND_HOST = "BIND_HOST"
DEMO_TOKEN_TTL_SECONDS = 12 * 3600
# Each gRPC service's Prometheus endpoint: its port + 1000 when free (policy 51051, ...).
METRICS_PORT_OFFSET = 1000


@dataclass(frozen=True)
class ServiceSpec:
    """One service: `python -m services.<name> migrate|seed|serve` (or `module`).

    `kind` says how readiness is checked: gRPC health (`grpc.health.v1`, service "") or an
    HTTP GET /healthz.
    """

    name: str
    port: int
    kind: Literal["grpc", "http"] = "grpc"
    migrate: bool = True  # has a schema of its own to migrate before serving
    seed: bool = False  # loads demo data with `seed` (idempotent) before serving
    module: str = ""  # defaults to services.<name>

    def __post_init__(self) -> None:
        if not self.module:
            object.__setattr__(self, "module", f"services.{self.name}")

    @property
    def env_prefix(self) -> str:
        return self.name.upper()


# The services `make run` starts, in start order. Default ports: docs in ARCHITECTURE.md.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec(name="policy", port=50051, seed=True),
    # Pricing before claims: the demo claims are judged against the demo prices.
    ServiceSpec(name="pricing", port=50053, seed=True),
    # Contractors before claims: the demo claims are dispatched to registered contractors.
    ServiceSpec(name="contractors", port=50056, seed=True),
    # Before claims: claims opens an evidence folder for every dispatch, its demo seed too.
    ServiceSpec(name="evidence", port=50054),
    ServiceSpec(name="claims", port=50052, seed=True),
    ServiceSpec(name="validation", port=50055, migrate=False),
    # Last: it calls validation, claims and policy, and relays their outboxes.
    ServiceSpec(name="exchange", port=50057, seed=True),
    # Last of all: the UI calls claims, evidence, contractors and policy for every page.
    ServiceSpec(name="web", port=8080, kind="http", seed=True),
)


@dataclass(frozen=True)
class DemoAccount:
    role: str
    regions: tuple[str, ...] = ("*",)

    @property
    def subject(self) -> str:
        return f"demo-{self.role.replace('_', '-')}"


# One per role. They exist only in the demo stack: minted here, never a fallback in code.
# The people work in the demo city (株洲, region prefix 4302); the auditor and the operator's
# own "service" identity (needed for the limits ledger, which only claims may move) see all.
ZHUZHOU = ("4302",)
DEMO_ACCOUNTS: tuple[DemoAccount, ...] = (
    DemoAccount("adjuster", ZHUZHOU),
    DemoAccount("senior_reviewer", ZHUZHOU),
    DemoAccount("supervisor", ZHUZHOU),
    DemoAccount("contractor", ZHUZHOU),
    DemoAccount("auditor"),
    DemoAccount("partner", ZHUZHOU),
    DemoAccount("service"),
)


def address(port: int) -> str:
    return f"{LOOPBACK}:{port}"


ENV_WEB_DEMO_PASSWORD = "WEB_DEMO_PASSWORD"  # noqa: S105 (a variable name, not a secret)
WEB_DEMO_USERS = (
    "demo-adjuster",
    "demo-adjuster-2",
    "demo-senior-reviewer",
    "demo-supervisor",
    "demo-auditor",
    "demo-contractor",
    "demo-contractor-2",
)


def ensure_web_demo_password(path: Path) -> str:
    """The demo UI users' password: random per machine, created once, 0600."""
    return read_or_create(path, lambda: secrets.token_urlsafe(12))


def ensure_auth_key(path: Path) -> str:
    """The services' shared token-signing key (32 random bytes, hex), created once, 0600."""
    return read_or_create(path, lambda: secrets.token_hex(32))


def addresses_environ(ports: Mapping[str, int]) -> dict[str, str]:
    """`<NAME>_ADDR=127.0.0.1:<port>` for every service, so each can find the others."""
    return {f"{name.upper()}_ADDR": address(port) for name, port in ports.items()}


def metrics_environ(metrics_ports: Mapping[str, int]) -> dict[str, str]:
    """`<NAME>_METRICS_ADDR=127.0.0.1:<port>`: where each service's /metrics is scraped."""
    return {f"{name.upper()}_METRICS_ADDR": address(p) for name, p in metrics_ports.items()}


def build_service_env(
    base: Mapping[str, str],
    stack: StackEnv,
    *,
    auth_key: str,
    spec: ServiceSpec,
    ports: Mapping[str, int],
    metrics_ports: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """A service's environment: ours + storage + auth key + its ports + everyone's address."""
    metrics_port = (metrics_ports or {}).get(spec.name)
    return {
        **base,
        **stack.as_environ(),
        ENV_AUTH_KEY: auth_key,
        ENV_BIND_HOST: LOOPBACK,
        **addresses_environ(ports),
        f"{spec.env_prefix}_PORT": str(ports[spec.name]),
        **({"METRICS_PORT": str(metrics_port)} if metrics_port else {}),
        "PYTHONUNBUFFERED": "1",  # log lines reach the terminal as they happen
    }


Minter = Callable[..., str]


def demo_tokens(
    auth_key: str,
    mint: Minter,
    accounts: Sequence[DemoAccount] = DEMO_ACCOUNTS,
    ttl_seconds: int = DEMO_TOKEN_TTL_SECONDS,
) -> dict[str, str]:
    """role → bearer token, signed with the stack's key."""
    key = bytes.fromhex(auth_key)
    return {
        account.role: mint(
            key,
            subject=account.subject,
            role=account.role,
            regions=account.regions,
            ttl_seconds=ttl_seconds,
        )
        for account in accounts
    }


def ready_text(
    specs: Sequence[ServiceSpec],
    ports: Mapping[str, int],
    stack: StackEnv,
    tokens: Mapping[str, str],
    metrics_ports: Mapping[str, int] | None = None,
    web_password: str = "",
) -> str:
    """What `make run` prints once everything answers; ends with a line that is just "ready"."""
    width = max([len(s.name) for s in specs] + [10])
    lines = ["", "elevins demo stack", ""]
    for spec in specs:
        metrics = (metrics_ports or {}).get(spec.name)
        scrape = f"  metrics http://{address(metrics)}/metrics" if metrics else ""
        lines.append(f"  {spec.name:<{width}}  {address(ports[spec.name])}  ({spec.kind}){scrape}")
    for label, value in stack.describe():
        lines.append(f"  {label:<{width}}  {value}")
    hours = DEMO_TOKEN_TTL_SECONDS // 3600
    lines += [
        "",
        f"Demo credentials (one per role, valid {hours} h; gRPC metadata header). People are",
        "scoped to the demo city (region 4302, Zhuzhou); auditor and service see every region:",
    ]
    role_width = max([len(role) for role in tokens] + [8])
    for role, token in tokens.items():
        lines.append(f"  {role:<{role_width}}  authorization: Bearer {token}")
    grpc_specs = [s for s in specs if s.kind == "grpc"]
    if grpc_specs and tokens:
        role, token = next(iter(tokens.items()))
        target = address(ports[grpc_specs[0].name])
        header = shlex.quote(f"authorization: Bearer {token}")
        lines += ["", f"Try it (as {role}):", f"  grpcurl -plaintext -H {header} {target} list"]
    if web_password and "web" in ports:
        lines += [
            "",
            f"Web UI: http://{address(ports['web'])}/",
            f"  password of every demo user: {web_password}",
            "  users: " + ", ".join(WEB_DEMO_USERS),
        ]
    lines += [
        "",
        'Point your tools at this stack:  eval "$(.venv/bin/python -m devstack env)"',
        "Stop with Ctrl-C.",
        "ready",
        "",
    ]
    return "\n".join(lines)


RUN_DIR = Path(__file__).resolve().parent.parent / ".devstack" / "run"


def run(base_dir: Path = RUN_DIR, specs: Sequence[ServiceSpec] = SERVICES) -> int:
    """`python -m devstack run` (`make run`): storage + `specs` until Ctrl-C; exit code."""
    from devstack.runner import run as run_everything  # grpc only when actually running

    return run_everything(base_dir, specs)
