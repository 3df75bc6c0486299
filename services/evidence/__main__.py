"""python -m services.evidence serve | migrate | match --index DIR --query DIR --out OUT.jsonl"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m services.evidence")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    sub.add_parser("migrate", help="bring the evidence schema to the latest revision")
    match = sub.add_parser("match", help="find reused photos among files (no server)")
    match.add_argument("--index", type=Path, required=True, help="folder of indexed photos")
    match.add_argument("--query", type=Path, required=True, help="folder of photos to check")
    match.add_argument("--out", type=Path, required=True, help="JSON lines, one per query")
    args = parser.parse_args()
    if args.command == "match":
        # No server, no database, no settings: the same forensics judges files.
        from services.evidence.match import main as match_main

        return match_main(args)

    from services.evidence.settings import EvidenceSettings
    from shared.logs import configure_logging
    from shared.settings import SettingsError

    try:
        settings = EvidenceSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"evidence: {error}") from None
    configure_logging("evidence", settings.log_level)
    if args.command == "migrate":
        from services.evidence.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
        return 0
    from services.evidence.server import build_app
    from shared.grpc_server import serve_until_stopped

    serve_until_stopped("evidence", settings, lambda: build_app(settings)[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
