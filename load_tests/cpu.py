"""CPU time of the processes of the local stack, read from /proc, to see what saturates first.

Groups: each elevins service (``python -m services.<name> serve``), PostgreSQL (the server and
its backends), S3 (``weed``) and the load generator itself. Only this machine's processes are
read, nothing is changed. On a system without /proc the groups are empty and the report says
nothing about CPU.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

PROC = Path("/proc")
ROOT = Path(__file__).resolve().parent.parent


def group_of(argv: list[str], pid: int, own_pid: int) -> str | None:
    """Which group a process belongs to, by its command line; None: not ours to count."""
    if pid == own_pid:
        return "load"
    if not argv:
        return None
    if "-m" in argv and "serve" in argv:
        module = argv[argv.index("-m") + 1] if argv.index("-m") + 1 < len(argv) else ""
        if module.startswith("services."):
            return module.removeprefix("services.")
    head = Path(argv[0]).name
    if head.startswith("postgres") or argv[0].startswith("postgres:"):
        return "postgresql"
    if head == "weed":
        return "s3"
    return None


def cpu_by_process(own_pid: int | None = None, root: Path = ROOT) -> dict[tuple[str, int], float]:
    """(group, pid) → CPU seconds (user + system) used so far, for each live process of the
    stack run from ``root`` (devstack starts everything in that folder or below it: other
    checkouts' stacks on the same machine are not counted)."""
    own = os.getpid() if own_pid is None else own_pid
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found: dict[tuple[str, int], float] = {}
    if not PROC.is_dir():
        return found
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
            group = group_of([a for a in argv if a], int(entry.name), own)
            if group is None or not Path(os.readlink(entry / "cwd")).is_relative_to(root):
                continue
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile, or not ours to read
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found[(group, int(entry.name))] = (int(fields[11]) + int(fields[12])) / ticks
    return found


def cpu_between(before: Mapping[int, float], after: Mapping[int, float]) -> float | None:
    """CPU seconds a group of processes (pid → seconds) used between two snapshots; a process
    born in between counts from 0. None when the group was not found."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


def cores_between(
    before: dict[tuple[str, int], float], after: dict[tuple[str, int], float], seconds: float
) -> dict[str, float]:
    """Cores each group used between two readings, process by process: one that started
    meanwhile counts from zero, one that ended is lost (a PostgreSQL backend's last slice)."""
    if seconds <= 0:
        return {}
    used: dict[str, float] = defaultdict(float)
    for (group, pid), cpu in after.items():
        used[group] += max(0.0, cpu - before.get((group, pid), 0.0))
    return {group: value / seconds for group, value in used.items()}
