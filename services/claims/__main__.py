"""python -m services.claims serve | migrate | seed | verify-audit [--claim ID]"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from services.claims.settings import ClaimsSettings
from shared.logs import configure_logging
from shared.settings import SettingsError

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.claims")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    sub.add_parser("migrate", help="bring the claims schema to the latest revision")
    sub.add_parser("seed", help="load demo claims in every state (idempotent)")
    verify = sub.add_parser("verify-audit", help="verify the hash chain of audit trails")
    verify.add_argument("--claim", help="one claim id (default: every claim)")
    args = parser.parse_args()

    try:
        settings = ClaimsSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"claims: {error}") from None
    configure_logging("claims", settings.log_level)
    if args.command == "migrate":
        from services.claims.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command == "seed":
        from services.claims.seed import seed_demo_claims

        asyncio.run(seed_demo_claims(settings))
    elif args.command == "verify-audit":
        from services.claims.audit_check import verify_audit

        sys.exit(asyncio.run(verify_audit(settings, claim_id=args.claim)))
    else:
        from services.claims.server import build_app
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("claims", settings, lambda: build_app(settings)[0])


if __name__ == "__main__":
    main()
