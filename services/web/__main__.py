"""python -m services.web serve | migrate | seed | add-user NAME --role ROLE ..."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
from pathlib import Path

from services.web.settings import WebSettings
from shared.logs import configure_logging
from shared.settings import SettingsError
from shared.telemetry import configure_telemetry, shutdown_telemetry

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger("web")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.web")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve the UI over HTTP until SIGTERM")
    sub.add_parser("migrate", help="bring the web schema to the latest revision")
    sub.add_parser("seed", help="demo users, one per role (needs WEB_DEMO_PASSWORD)")
    add = sub.add_parser("add-user", help="create or reset a user; asks for the password")
    add.add_argument("username")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument(
        "--role",
        required=True,
        choices=["adjuster", "senior_reviewer", "supervisor", "contractor", "auditor"],
    )
    add.add_argument("--regions", default="*", help="comma-separated region prefixes")
    add.add_argument("--contractor", default=None, help="the company id, for contractors")
    args = parser.parse_args()

    try:
        settings = WebSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"web: {error}") from None
    configure_logging("web", settings.log_level)
    if args.command == "migrate":
        from services.web.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command in ("seed", "add-user"):
        asyncio.run(_users(settings, args))
    else:
        _serve(settings)


async def _users(settings: WebSettings, args: argparse.Namespace) -> None:
    from services.web.domain.access import Role
    from services.web.server import SCHEMA
    from services.web.store import User
    from services.web.usecases import WebUseCases
    from shared.clock import SystemClock
    from shared.db import create_engine

    usecases = WebUseCases(create_engine(settings.database_url, schema=SCHEMA), SystemClock())
    try:
        if args.command == "seed":
            from services.web.seed import seed_demo_users

            if settings.demo_password is None:
                raise SystemExit("web seed: WEB_DEMO_PASSWORD is not set; no demo users made")
            count = await seed_demo_users(usecases, settings.demo_password.reveal())
            log.info("demo users seeded: %d", count)
        else:
            password = getpass.getpass(f"password for {args.username}: ")
            user = User(
                args.username,
                args.name,
                Role(args.role),
                tuple(r.strip() for r in args.regions.split(",") if r.strip()),
                args.contractor,
            )
            await usecases.put_user(user, password)
    finally:
        await usecases.dispose()


def _serve(settings: WebSettings) -> None:
    from aiohttp import web

    from services.web.server import build_app

    configure_telemetry("web", settings)

    async def app() -> web.Application:
        # Built inside the running loop: gRPC channels belong to the loop that made them.
        return build_app(settings)

    try:
        web.run_app(
            app(),
            host=settings.bind_host,
            port=settings.port,
            access_log=None,  # request paths carry claim ids; the spans have them instead
            print=None,
            shutdown_timeout=settings.grpc_shutdown_grace_s,
        )
    finally:
        shutdown_telemetry()


if __name__ == "__main__":
    main()
