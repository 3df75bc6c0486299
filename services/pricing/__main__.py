"""python -m services.pricing serve | migrate | seed | evaluate --history H --quotes Q --out O"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "evaluate":
        # No server, no database, no settings: the same core judges files.
        from services.pricing.core.evaluate import main as evaluate

        sys.exit(evaluate(sys.argv[2:]))

    from services.pricing.settings import PricingSettings
    from shared.logs import configure_logging
    from shared.settings import SettingsError

    parser = argparse.ArgumentParser(prog="python -m services.pricing")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    sub.add_parser("migrate", help="bring the pricing schema to the latest revision")
    sub.add_parser("seed", help="load demo price observations (idempotent)")
    sub.add_parser("evaluate", help="judge quotes from files: see --help of the subcommand")
    args = parser.parse_args()
    try:
        settings = PricingSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"pricing: {error}") from None
    configure_logging("pricing", settings.log_level)
    if args.command == "migrate":
        from services.pricing.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command == "seed":
        from services.pricing.seed import seed_demo_prices

        asyncio.run(seed_demo_prices(settings))
    else:
        from services.pricing.server import build_app
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("pricing", settings, lambda: build_app(settings)[0])


if __name__ == "__main__":
    main()
