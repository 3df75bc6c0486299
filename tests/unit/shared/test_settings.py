import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from shared.settings import CommonSettings, Secret, Settings, SettingsError, env

REQUIRED = {
    "DATABASE_URL": "postgresql+asyncpg://elevins:s3cret@127.0.0.1/policy",
    "ELEVINS_AUTH_KEY": "k" * 32,
}


class PolicySettings(CommonSettings):
    port: int = env("POLICY_PORT", default=50051)


class Kinds(Settings):
    flag: bool = env("T_FLAG", default=False)
    hosts: tuple[str, ...] = env("T_HOSTS", default=())
    ports: tuple[int, ...] = env("T_PORTS", default=())
    path: Path | None = env("T_PATH", default=None)
    mode: Literal["fast", "Safe"] = env("T_MODE", default="fast")
    ratio: float = env("T_RATIO", default=0.5)


def test_common_settings_defaults():
    s = CommonSettings.from_env(REQUIRED)
    assert s.database_url == REQUIRED["DATABASE_URL"]
    assert s.auth_key.reveal() == "k" * 32
    assert s.bind_host == "127.0.0.1"
    assert s.log_level == "INFO"
    assert s.otel_traces_exporter == "none"
    assert s.trace_file is None
    assert s.grpc_shutdown_grace_s == 10.0
    assert (s.s3_endpoint, s.s3_access_key, s.s3_secret_key, s.s3_bucket) == ("", "", None, "")


@pytest.mark.parametrize(
    ("endpoint", "secure", "expected"),
    [
        ("minio:9000", "", ("minio:9000", False)),
        ("minio:9000", "true", ("minio:9000", True)),
        ("https://s3.example.cn", "", ("s3.example.cn", True)),
        ("http://127.0.0.1:8333/", "true", ("127.0.0.1:8333", False)),  # the URL decides
    ],
)
def test_s3_address_reads_tls_as_devstack_does(endpoint, secure, expected):
    s = CommonSettings.from_env({**REQUIRED, "S3_ENDPOINT": endpoint, "S3_SECURE": secure})
    assert s.s3_address() == expected


def test_a_service_extends_common_settings():
    s = PolicySettings.from_env({**REQUIRED, "POLICY_PORT": "6001", "S3_SECRET_KEY": "minio123"})
    assert s.port == 6001
    assert isinstance(s.s3_secret_key, Secret) and s.s3_secret_key.reveal() == "minio123"
    assert PolicySettings.from_env(REQUIRED).port == 50051


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as caught:
        PolicySettings.from_env(
            {"POLICY_PORT": "50o51", "GRPC_SHUTDOWN_GRACE_S": "inf", "LOG_LEVEL": "loud"}
        )
    problems = caught.value.problems
    assert problems == [
        "DATABASE_URL: required but not set",
        "ELEVINS_AUTH_KEY: required but not set",
        "LOG_LEVEL: 'loud' is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL",
        "GRPC_SHUTDOWN_GRACE_S: 'inf' is not a finite number",
        "POLICY_PORT: '50o51' is not an integer",
    ]
    assert all(p in str(caught.value) for p in problems)


def test_blank_is_unset_and_values_are_stripped():
    with pytest.raises(SettingsError, match="ELEVINS_AUTH_KEY: required"):
        CommonSettings.from_env({**REQUIRED, "ELEVINS_AUTH_KEY": "  \n"})
    s = PolicySettings.from_env(
        {**REQUIRED, "ELEVINS_AUTH_KEY": "key\n", "POLICY_PORT": "", "BIND_HOST": " 0.0.0.0 "}
    )
    assert s.auth_key.reveal() == "key"
    assert s.port == 50051
    assert s.bind_host == "0.0.0.0"


def test_reads_os_environ_by_default(monkeypatch):
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    assert CommonSettings.from_env().log_level == "DEBUG"


def test_type_conversions():
    s = Kinds.from_env(
        {
            "T_FLAG": "Yes",
            "T_HOSTS": "a.example, b.example,,",
            "T_PORTS": "1, 2",
            "T_PATH": "build/x.jsonl",
            "T_MODE": "SAFE",
            "T_RATIO": "0.25",
        }
    )
    assert s == Kinds(
        flag=True,
        hosts=("a.example", "b.example"),
        ports=(1, 2),
        path=Path("build/x.jsonl"),
        mode="Safe",
        ratio=0.25,
    )
    assert Kinds.from_env({"T_FLAG": "off"}).flag is False


@pytest.mark.parametrize(
    ("name", "value", "error"),
    [
        ("T_FLAG", "maybe", "T_FLAG: 'maybe' is not a boolean"),
        ("T_PORTS", "1,x", "T_PORTS: 'x' is not an integer"),
        ("T_MODE", "slow", "T_MODE: 'slow' is not one of fast, Safe"),
        ("T_RATIO", "x" * 100, "T_RATIO: 'xxxxxxxx"),
    ],
)
def test_invalid_values(name, value, error):
    with pytest.raises(SettingsError) as caught:
        Kinds.from_env({name: value})
    assert caught.value.problems[0].startswith(error)
    assert len(str(caught.value)) < 200  # a long value is cut, not echoed whole


def test_settings_are_frozen_and_keyword_only():
    s = CommonSettings.from_env(REQUIRED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.bind_host = "0.0.0.0"  # type: ignore[misc]
    with pytest.raises(TypeError):
        CommonSettings("postgresql://x", Secret("k"))  # type: ignore[call-arg]


def test_secret_never_shows_itself():
    key = Secret("hunter2")
    assert repr(key) == str(key) == f"{key}" == "***"
    assert key.reveal() == "hunter2"
    assert key == Secret("hunter2") and key != Secret("hunter3")
    assert not Secret("")


def test_settings_repr_hides_secrets_and_url_passwords():
    text = repr(PolicySettings.from_env({**REQUIRED, "S3_SECRET_KEY": "minio-secret"}))
    assert "s3cret" not in text and "k" * 32 not in text and "minio-secret" not in text
    assert "database_url='postgresql+asyncpg://elevins:***@127.0.0.1/policy'" in text
    assert "auth_key=***" in text and "port=50051" in text


def test_declaration_mistakes_fail_when_the_class_is_made():
    with pytest.raises(TypeError, match="declare it with env"):

        class NoVariable(Settings):
            port: int = 5

    with pytest.raises(TypeError, match="X_PORT is read by both"):

        class Twice(Settings):
            a: int = env("X_PORT", default=1)
            b: int = env("X_PORT", default=2)

    with pytest.raises(TypeError, match="unsupported settings type"):

        class Unsupported(Settings):
            hosts: list[str] | None = env("X_HOSTS", default=None)
