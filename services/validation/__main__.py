"""python -m services.validation serve (it keeps no data: nothing to migrate or seed)"""

from __future__ import annotations

import argparse
import asyncio

from services.validation.settings import ValidationSettings
from shared.logs import configure_logging
from shared.settings import SettingsError
from shared.telemetry import configure_telemetry, shutdown_telemetry


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.validation")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC until SIGTERM")
    args = parser.parse_args()
    try:
        settings = ValidationSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"validation: {error}") from None
    configure_logging("validation", settings.log_level)
    if args.command == "serve":
        from services.validation.server import build_app

        configure_telemetry("validation", settings)
        try:
            asyncio.run(build_app(settings).serve_forever())
        finally:
            shutdown_telemetry()


if __name__ == "__main__":
    main()
