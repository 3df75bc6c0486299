"""python -m services.contractors serve | migrate | seed"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    from services.contractors.settings import ContractorsSettings
    from shared.logs import configure_logging
    from shared.settings import SettingsError

    parser = argparse.ArgumentParser(prog="python -m services.contractors")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    sub.add_parser("migrate", help="bring the contractors schema to the latest revision")
    sub.add_parser("seed", help="demo contractors, six months of events and standings")
    args = parser.parse_args()
    try:
        settings = ContractorsSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"contractors: {error}") from None
    configure_logging("contractors", settings.log_level)
    if args.command == "migrate":
        from services.contractors.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command == "seed":
        from services.contractors.seed import seed_demo_contractors

        asyncio.run(seed_demo_contractors(settings))
    else:
        from services.contractors.server import build_app
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("contractors", settings, lambda: build_app(settings)[0])


if __name__ == "__main__":
    main()
