"""Typed settings from environment variables, without pydantic.

A settings class is a frozen, keyword-only dataclass whose fields say which variable they come
from with :func:`env`. Loading converts each variable to the field's type and reports *every*
missing or invalid variable in one :class:`SettingsError`, so a deployment is fixed in one round
instead of one variable per restart::

    class PolicySettings(CommonSettings):
        \"\"\"services/policy/settings.py\"\"\"

        port: int = env("POLICY_PORT", default=50051)
        max_vote_age_days: int = env("POLICY_MAX_VOTE_AGE_DAYS", default=365)

    settings = PolicySettings.from_env()  # reads os.environ; raises SettingsError
    settings.port, settings.database_url, settings.auth_key.reveal()

Subclasses of :class:`Settings` become settings classes by themselves (no decorator). Supported
field types: ``str``, ``int``, ``float``, ``bool`` (1/0, true/false, yes/no, on/off), ``Path``,
:class:`Secret`, ``tuple[X, ...]`` (comma-separated, items stripped, empty items dropped),
``Literal["a", "b"]`` (matched case-insensitively, returned as declared), and ``X | None``.

An empty or blank variable counts as unset (a ``FOO=`` line in a manifest is a mistake far more
often than a wish for the empty string), and values are stripped, since a trailing newline from
a mounted secret file is a classic cause of "wrong password".
"""

from __future__ import annotations

import dataclasses
import hmac
import math
import os
import re
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar, dataclass_transform, final, overload
from urllib.parse import urlsplit

__all__ = [
    "CommonSettings",
    "Secret",
    "Settings",
    "SettingsError",
    "env",
]

_T = TypeVar("_T")
_ENV = "env"  # the key of the variable's name in a field's metadata
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})
_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^@\s]+@")


@final
class Secret:
    """A string that does not show itself: ``repr()``, ``str()`` and f-strings give ``***``.

    Call :meth:`reveal` at the one place that needs the value (signing, connecting), so that
    settings objects can be logged and printed safely.
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "***"

    __str__ = __repr__

    def __bool__(self) -> bool:
        return bool(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        # Constant time: settings are compared in tests, but the habit costs nothing.
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))


class SettingsError(ValueError):
    """Some variables are missing or invalid; ``problems`` lists them all, one line each."""

    def __init__(self, settings_name: str, problems: list[str]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(
            f"{settings_name}: {len(problems)} problem(s) in the environment:\n{lines}"
        )


@overload
def env(name: str, *, default: _T) -> _T: ...
@overload
def env(name: str) -> Any: ...
def env(name: str, *, default: Any = dataclasses.MISSING) -> Any:
    """Declare a field read from the environment variable ``name``; without a default it is
    required."""
    return dataclasses.field(default=default, metadata={_ENV: name})


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(env,))
class Settings:
    """Base of settings classes: each subclass is made a frozen keyword-only dataclass.

    The declarations are checked when the class is created (every field has a variable, no
    variable twice, every type supported), so a mistake fails at import, not at deployment.
    """

    _converters: ClassVar[dict[str, Callable[[str], Any]]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        dataclasses.dataclass(frozen=True, kw_only=True, repr=False)(cls)
        hints = typing.get_type_hints(cls)
        seen: dict[str, str] = {}
        converters: dict[str, Callable[[str], Any]] = {}
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]  # cls is a dataclass now
            var = f.metadata.get(_ENV)
            if var is None:
                raise TypeError(f"{cls.__name__}.{f.name}: declare it with env('VARIABLE')")
            if var in seen:
                raise TypeError(f"{cls.__name__}: {var} is read by both {seen[var]} and {f.name}")
            seen[var] = f.name
            converters[f.name] = _converter(hints[f.name], f"{cls.__name__}.{f.name}")
        cls._converters = converters

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Self:
        """Load from ``environ`` (default ``os.environ``); SettingsError lists every problem."""
        source = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            var = f.metadata[_ENV]
            raw = source.get(var, "").strip()
            if not raw:
                if f.default is dataclasses.MISSING:
                    problems.append(f"{var}: required but not set")
                continue
            try:
                values[f.name] = cls._converters[f.name](raw)
            except ValueError as e:
                problems.append(f"{var}: {e}")
        if problems:
            raise SettingsError(cls.__name__, problems)
        return cls(**values)

    def __repr__(self) -> str:
        # Secrets print as ***; a password inside a URL (DATABASE_URL) is hidden as well.
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            text = _URL_PASSWORD.sub(r"\1***@", repr(value)) if isinstance(value, str) else value
            parts.append(f"{f.name}={text if isinstance(text, str) else repr(text)}")
        return f"{type(self).__name__}({', '.join(parts)})"


# --- conversion -----------------------------------------------------------------------------


def _converter(tp: Any, where: str) -> Callable[[str], Any]:
    """A function from the raw string to a value of ``tp``; TypeError if ``tp`` is unsupported."""
    simple = _SIMPLE.get(tp)
    if simple is not None:
        return simple
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        # X | None: an unset variable gives the default (None); a set one is an X.
        (inner,) = (a for a in args if a is not type(None))
        return _converter(inner, where)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = _converter(args[0], where)
        return lambda raw: tuple(item(p.strip()) for p in raw.split(",") if p.strip())
    if origin is Literal and all(isinstance(a, str) for a in args):
        return _literal(args)
    raise TypeError(f"{where}: unsupported settings type {tp!r}")


def _literal(choices: tuple[str, ...]) -> Callable[[str], str]:
    by_folded = {c.casefold(): c for c in choices}

    def convert(raw: str) -> str:
        try:
            return by_folded[raw.casefold()]
        except KeyError:
            raise ValueError(f"{_shown(raw)} is not one of {', '.join(choices)}") from None

    return convert


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{_shown(raw)} is not an integer") from None


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{_shown(raw)} is not a number") from None
    if not math.isfinite(value):
        raise ValueError(f"{_shown(raw)} is not a finite number")
    return value


def _bool(raw: str) -> bool:
    folded = raw.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(f"{_shown(raw)} is not a boolean (use true/false, 1/0, yes/no, on/off)")


def _shown(raw: str) -> str:
    """The value quoted in an error; long ones are cut, lest a pasted key fill the log."""
    return repr(raw if len(raw) <= 40 else raw[:37] + "...")


_SIMPLE: dict[Any, Callable[[str], Any]] = {
    str: str,
    int: _int,
    float: _float,
    bool: _bool,
    Path: Path,
    Secret: Secret,
}


LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class CommonSettings(Settings):
    """What every service reads. A service subclasses it in ``services/<name>/settings.py``::

        class PolicySettings(CommonSettings):
            port: int = env("POLICY_PORT", default=50051)

    ``ELEVINS_AUTH_KEY`` has no default on purpose: a service never starts with a guessable
    key. The demo stack generates one and passes it to every service.
    """

    database_url: str = env("DATABASE_URL")
    auth_key: Secret = env("ELEVINS_AUTH_KEY")
    # Loopback unless told otherwise: the Kubernetes manifests set 0.0.0.0 explicitly.
    bind_host: str = env("BIND_HOST", default="127.0.0.1")
    log_level: LogLevel = env("LOG_LEVEL", default="INFO")
    # none | console | file | otlp, or several comma-separated (see shared.telemetry).
    otel_traces_exporter: str = env("OTEL_TRACES_EXPORTER", default="none")
    # Where the `file` trace exporter writes; None means build/traces/<service>.jsonl.
    trace_file: Path | None = env("ELEVINS_TRACE_FILE", default=None)
    # Prometheus `GET /metrics` on BIND_HOST:METRICS_PORT (shared.metrics); 0 turns it off.
    metrics_port: int = env("METRICS_PORT", default=0)
    grpc_shutdown_grace_s: float = env("GRPC_SHUTDOWN_GRACE_S", default=10.0)
    # host:port, or a URL whose scheme decides TLS (as devstack reads it).
    s3_endpoint: str = env("S3_ENDPOINT", default="")
    s3_access_key: str = env("S3_ACCESS_KEY", default="")
    s3_secret_key: Secret | None = env("S3_SECRET_KEY", default=None)
    s3_bucket: str = env("S3_BUCKET", default="")
    # TLS to S3 when the endpoint is a bare host:port (devstack sets it only when TLS is on).
    s3_secure: bool = env("S3_SECURE", default=False)

    def s3_address(self) -> tuple[str, bool]:
        """(host:port, TLS?) of S3: a URL's scheme decides, else ``S3_SECURE``; as devstack
        reads the same variables, so both agree on one environment."""
        value = self.s3_endpoint.strip().rstrip("/")
        if "://" in value:
            parts = urlsplit(value)
            return parts.netloc, parts.scheme == "https"
        return value, self.s3_secure
