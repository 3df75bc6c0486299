import stat

from devstack.services import (
    DEMO_ACCOUNTS,
    ServiceSpec,
    build_service_env,
    demo_tokens,
    ensure_auth_key,
    ready_text,
)
from devstack.stack import StackEnv
from shared.auth import mint_token, parse_keys, verify_token

STACK = StackEnv(
    database_url="postgresql://postgres:pgsecret@127.0.0.1:55432/elevins",
    s3_endpoint="127.0.0.1:8333",
    s3_access_key="AK",
    s3_secret_key="SK",
)
SPECS = (ServiceSpec("policy", 50051, seed=True), ServiceSpec("web", 8080, kind="http"))
PORTS = {"policy": 50051, "web": 8080}
KEY = "ab" * 32


def test_spec_defaults():
    spec = ServiceSpec("policy", 50051)
    assert spec.module == "services.policy"
    assert spec.env_prefix == "POLICY"
    assert spec.kind == "grpc"
    assert ServiceSpec("fake", 1, module="elsewhere").module == "elsewhere"


def test_service_env_has_storage_key_port_and_every_address():
    env = build_service_env(
        {"PATH": "/bin", "DATABASE_URL": "stale"}, STACK, auth_key=KEY, spec=SPECS[0], ports=PORTS
    )
    assert env["PATH"] == "/bin"
    assert env["DATABASE_URL"] == STACK.database_url  # the stack wins over the caller's env
    assert env["S3_ENDPOINT"] == "127.0.0.1:8333"
    assert env["ELEVINS_AUTH_KEY"] == KEY
    assert env["BIND_HOST"] == "127.0.0.1"
    assert env["POLICY_PORT"] == "50051"
    assert "WEB_PORT" not in env  # only its own port
    assert env["POLICY_ADDR"] == "127.0.0.1:50051"
    assert env["WEB_ADDR"] == "127.0.0.1:8080"
    assert "METRICS_PORT" not in env  # off unless a port is given
    metered = build_service_env(
        {}, STACK, auth_key=KEY, spec=SPECS[0], ports=PORTS, metrics_ports={"policy": 51051}
    )
    assert metered["METRICS_PORT"] == "51051"


def test_auth_key_is_created_once_and_private(tmp_path):
    path = tmp_path / "secrets" / "auth_key"
    key = ensure_auth_key(path)
    assert len(bytes.fromhex(key)) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_auth_key(path) == key


def test_demo_tokens_verify_with_the_services_key():
    tokens = demo_tokens(KEY, mint_token)
    assert set(tokens) == {a.role for a in DEMO_ACCOUNTS}
    keys = parse_keys(KEY)  # what the services do with ELEVINS_AUTH_KEY
    for role, token in tokens.items():
        principal = verify_token(token, keys)
        assert principal.role.value == role
        assert principal.subject.startswith("demo-")


def test_ready_text():
    tokens = {"adjuster": "TOKEN-A", "auditor": "TOKEN-B"}
    text = ready_text(SPECS, PORTS, STACK, tokens, {"policy": 51051})
    lines = text.splitlines()
    assert any("policy" in ln and "metrics http://127.0.0.1:51051/metrics" in ln for ln in lines)
    assert "ready" in lines  # a line by itself, for scripts waiting on it
    assert "pgsecret" not in text
    assert "postgres:****@127.0.0.1:55432" in text
    assert "127.0.0.1:8333" in text
    assert "grpcurl -plaintext -H 'authorization: Bearer TOKEN-A' 127.0.0.1:50051 list" in text
    assert any("auditor" in line and "TOKEN-B" in line for line in lines)
    assert any("web" in line and "127.0.0.1:8080" in line and "http" in line for line in lines)
