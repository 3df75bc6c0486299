"""python -m devstack run | env | test

- `run`  (make run):  storage + services until Ctrl-C, demo credentials printed when ready.
- `env`:  `export …` lines for the running `make run` stack: eval "$(python -m devstack env)".
- `traces`: print traces from the `file` exporter's build/traces/*.jsonl (devstack.traces).
- `test` (make test): pytest; the test session starts its own throw-away stack (see
  tests/conftest.py), or uses DATABASE_URL / S3_ENDPOINT when they are set.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from collections.abc import Sequence

from devstack.runner import SERVICES_STATE_FILE
from devstack.services import RUN_DIR, run
from devstack.stack import STATE_FILE, read_state


def _env() -> int:
    stack = read_state(RUN_DIR, STATE_FILE)
    if stack is None:
        print(f"no devstack is running in {RUN_DIR}; start one with `make run`", file=sys.stderr)
        return 1
    environ = stack | (read_state(RUN_DIR, SERVICES_STATE_FILE) or {})
    for name, value in environ.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _test(pytest_args: Sequence[str]) -> int:
    # Replace this process: pytest gets Ctrl-C and SIGTERM directly and its exit code is ours.
    argv = [sys.executable, "-m", "pytest", *pytest_args]
    os.execv(sys.executable, argv)  # noqa: S606 (our own interpreter)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("run", help="start storage and services until Ctrl-C (make run)")
    sub.add_parser("env", help="print export lines for the running `make run` stack")
    sub.add_parser("traces", help="print traces from build/traces/*.jsonl (--claim ID, --trace ID)")
    test = sub.add_parser("test", help="run pytest (make test); extra arguments go to pytest")
    test.add_argument("pytest_args", nargs=argparse.REMAINDER)
    args, rest = parser.parse_known_args(argv)
    if args.command == "traces":
        from devstack.traces import main as traces

        return traces(rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")

    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s.%(msecs)03d devstack %(levelname)s %(message)s",
        datefmt="%H:%M:%S",
    )
    if args.command == "run":
        return run()
    if args.command == "env":
        return _env()
    return _test(args.pytest_args)


if __name__ == "__main__":
    sys.exit(main())
