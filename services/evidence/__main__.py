"""python -m services.evidence match --index DIR --query DIR --out OUT.jsonl"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.evidence")
    sub = parser.add_subparsers(dest="command", required=True)
    match = sub.add_parser("match", help="find reused photos among files (no server)")
    match.add_argument("--index", type=Path, required=True, help="folder of indexed photos")
    match.add_argument("--query", type=Path, required=True, help="folder of photos to check")
    match.add_argument("--out", type=Path, required=True, help="JSON lines, one per query")
    args = parser.parse_args()
    if args.command == "match":
        from services.evidence.match import main as match_main

        return match_main(args)
    parser.error(f"unknown command {args.command}")


if __name__ == "__main__":
    sys.exit(main())
