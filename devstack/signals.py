"""Signals: SIGTERM behaves like Ctrl-C, and cleanup is not cut short by a second one.

Python turns SIGINT into KeyboardInterrupt, so `finally:` blocks stop our servers; SIGTERM
would kill the interpreter outright and orphan them. `Terminated` subclasses
KeyboardInterrupt so pytest and our own code treat both the same way.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

# What signal.signal() returns and accepts (typeshed's private _HANDLER).
_Handler = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None

log = logging.getLogger("devstack")


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived: stop cleanly, as for Ctrl-C."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _raise_terminated(signum: int, frame: FrameType | None) -> None:
    raise Terminated(f"received {signal.Signals(signum).name}")


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises `Terminated` in the main thread.

    Left alone if someone (a test runner, an outer devstack) already handles SIGTERM, or if
    we are not in the main thread (Python only runs signal handlers there).
    """
    if not _in_main_thread() or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def shielded(doing: str) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM only log a note.

    Stopping servers takes a few seconds; an impatient second Ctrl-C must not abandon the
    cleanup half-way, which is exactly how orphaned servers and stale pid files are made.
    """
    if not _in_main_thread():
        yield
        return

    def note(signum: int, frame: FrameType | None) -> None:
        log.warning("still %s, please wait", doing)

    previous_int = signal.signal(signal.SIGINT, note)
    previous_term = signal.signal(signal.SIGTERM, note)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_int)
        signal.signal(signal.SIGTERM, previous_term)


class StopFlag:
    """SIGINT/SIGTERM set a flag instead of raising, for loops that check it themselves.

    Used by the service runner: an exception raised at an arbitrary point could land between
    a child's fork and our bookkeeping of it, leaving a process nobody stops.
    """

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._previous: dict[int, _Handler] = {}

    def __bool__(self) -> bool:
        return self.event.is_set()

    def _set(self, signum: int, frame: FrameType | None) -> None:
        self.signal_name = signal.Signals(signum).name
        self.event.set()

    def __enter__(self) -> StopFlag:
        if _in_main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._set)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()
