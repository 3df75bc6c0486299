"""python -m services.policy serve | migrate | seed"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

from services.policy.settings import PolicySettings
from shared.logs import configure_logging
from shared.settings import SettingsError

MIGRATIONS = Path(__file__).parent / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.policy")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    sub.add_parser("migrate", help="bring the policy schema to the latest revision")
    seed = sub.add_parser("seed", help="load the demo city (idempotent)")
    seed.add_argument("--elevators", type=int, default=50)
    args = parser.parse_args()

    try:
        settings = PolicySettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"policy: {error}") from None
    configure_logging("policy", settings.log_level)
    if args.command == "migrate":
        from services.policy.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command == "seed":
        from services.policy.seed import seed_demo_city

        asyncio.run(seed_demo_city(settings, elevators=args.elevators))
    else:
        from services.policy.server import build_app
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("policy", settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
