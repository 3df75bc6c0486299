"""Child processes: waiting for readiness, stopping, reaping, and finding leftovers.

Every server runs as our direct child (never daemonised through `pg_ctl start`), so we can
`wait()` for it and no zombie is left behind. Children get their own session, so a Ctrl-C in
the terminal reaches only devstack, which then stops them in order (services first, storage
last) instead of everything dying at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import psutil  # type: ignore[import-untyped]

log = logging.getLogger("devstack")

T = TypeVar("T")


class StartCancelled(RuntimeError):
    """Startup was abandoned because the stack is shutting down."""


def wait_until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    cancel: threading.Event | None = None,
) -> T:
    """Call `check` until it returns something other than None; raise after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        if cancel is not None and cancel.is_set():
            raise StartCancelled(f"cancelled while waiting for {what}")
        result = check()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        if cancel is not None:
            cancel.wait(interval)
        else:
            time.sleep(interval)


def stop_child(
    proc: subprocess.Popen[bytes],
    *,
    timeout: float,
    first_signal: int = signal.SIGTERM,
    whole_group: bool = False,
    name: str = "process",
) -> int:
    """Signal `proc`, wait up to `timeout` s, SIGKILL it if needed, and reap it.

    `whole_group` signals the child's process group (it was started in its own session),
    which also reaches grandchildren such as worker processes.
    """

    def send(sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            if whole_group:
                os.killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)

    if proc.poll() is None:
        send(first_signal)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            sig_name = signal.Signals(first_signal).name
            log.warning(
                "%s (pid %d) ignored %s for %.0fs; killing it", name, proc.pid, sig_name, timeout
            )
            send(signal.SIGKILL)
            proc.wait()
    elif whole_group:
        # The leader is gone; make sure nothing else of its group survives.
        send(signal.SIGKILL)
    return proc.returncode


@dataclass(frozen=True)
class FoundProcess:
    pid: int
    name: str
    cmdline: tuple[str, ...]


def find_processes(match: Callable[[FoundProcess, Path | None], bool]) -> list[FoundProcess]:
    """Live (non-zombie) processes for which `match(process, its_cwd)` is true."""
    found: list[FoundProcess] = []
    for proc in psutil.process_iter(["pid", "name", "cmdline", "status"]):
        info = proc.info
        if info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        candidate = FoundProcess(
            pid=int(info["pid"]),
            name=str(info.get("name") or ""),
            cmdline=tuple(str(a) for a in info.get("cmdline") or ()),
        )
        try:
            cwd: Path | None = Path(proc.cwd())
        except (psutil.Error, OSError):
            cwd = None
        if match(candidate, cwd):
            found.append(candidate)
    return found


def _alive(pid: int) -> bool:
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def kill_processes(
    pids: Iterable[int], *, first_signal: int = signal.SIGTERM, timeout: float = 10.0
) -> None:
    """Stop processes that are not our children (leftovers of an earlier, killed run).

    We cannot reap them; a zombie counts as gone (its parent or init owns the reaping).
    """
    remaining = list(pids)
    for pid in remaining:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, first_signal)
    deadline = time.monotonic() + timeout
    while remaining and time.monotonic() < deadline:
        remaining = [pid for pid in remaining if _alive(pid)]
        time.sleep(0.1)
    for pid in remaining:
        log.warning("leftover process %d did not stop; killing it", pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def pid_alive(pid: int) -> bool:
    return _alive(pid)


def log_tail(path: Path, lines: int = 30) -> str:
    """The end of a log file, for error messages that say why a server did not start."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
