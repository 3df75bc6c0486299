"""Secrets generated once per stack and kept in 0600 files under the git-ignored `.devstack/`.

Generated rather than fixed so that a demo stack never ships a password that also works
somewhere else, and kept on disk so a restarted `make run` can open its old data again.
"""

from __future__ import annotations

import os
import secrets
import string
from collections.abc import Callable
from pathlib import Path

_ALPHANUMERIC = string.ascii_letters + string.digits


def random_token(length: int = 32, alphabet: str = _ALPHANUMERIC) -> str:
    """Letters and digits only: safe in URLs, shell exports and config files unquoted."""
    return "".join(secrets.choice(alphabet) for _ in range(length))


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` with mode 0600, atomically (never a half-written secret)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.replace(tmp, path)


def read_or_create(path: Path, make: Callable[[], str]) -> str:
    """The secret stored in `path`, created with `make()` the first time.

    An existing file that others can read is tightened to 0600 rather than trusted as is.
    """
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        value = path.read_text(encoding="utf-8").strip()
        if value:
            return value
    value = make()
    write_private(path, value + "\n")
    return value
