"""Choosing TCP ports on the loopback interface.

Ports are chosen from 10000-21999 so that a port and its SeaweedFS gRPC twin (port + 10000)
both stay below Linux's ephemeral range (32768+), where the kernel picks source ports for
outgoing connections and could take "our" port between the check and the bind.
"""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Callable

LOOPBACK = "127.0.0.1"
# `weed` derives each component's gRPC port as its HTTP port + 10000.
WEED_GRPC_OFFSET = 10_000
RANGE_LOW = 10_000
RANGE_HIGH = 22_000  # exclusive; RANGE_HIGH + WEED_GRPC_OFFSET < 32768

_lock = threading.Lock()
# Ports this process has already handed out: PostgreSQL and SeaweedFS pick their ports in
# parallel threads, and a port probed free is still free until the server binds it.
_handed_out: set[int] = set()


class PortBusyError(RuntimeError):
    """A server could not bind the port it was given (someone took it in the meantime)."""


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on host:port right now.

    SO_REUSEADDR mirrors what PostgreSQL and Go servers do, so a port that only has
    connections in TIME_WAIT counts as free, as it is for them.
    """
    if not 0 < port < 65536:
        return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def pick_port(
    *,
    preferred: int | None = None,
    with_grpc_twin: bool = False,
    is_free: Callable[[int], bool] = port_is_free,
    rng: random.Random | None = None,
    attempts: int = 500,
) -> int:
    """A free port: `preferred` if it is free, otherwise a random one from the safe range.

    With `with_grpc_twin`, port + 10000 must be free as well (SeaweedFS's gRPC port). A port
    is never handed out twice by one process, even if the first taker has not bound it yet.
    """
    chooser = rng or random.SystemRandom()

    def usable(port: int) -> bool:
        needed = [port, port + WEED_GRPC_OFFSET] if with_grpc_twin else [port]
        return all(p not in _handed_out and is_free(p) for p in needed)

    with _lock:
        candidates: list[int] = [preferred] if preferred is not None else []
        candidates += [chooser.randrange(RANGE_LOW, RANGE_HIGH) for _ in range(attempts)]
        for port in candidates:
            if usable(port):
                _handed_out.add(port)
                if with_grpc_twin:
                    _handed_out.add(port + WEED_GRPC_OFFSET)
                return port
    raise PortBusyError(f"no free port found on {LOOPBACK} after {attempts} attempts")


def release_port(port: int, *, with_grpc_twin: bool = False) -> None:
    """Let this process hand the port out again (after its server has stopped)."""
    with _lock:
        _handed_out.discard(port)
        if with_grpc_twin:
            _handed_out.discard(port + WEED_GRPC_OFFSET)
