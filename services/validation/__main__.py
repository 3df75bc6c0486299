"""python -m services.validation serve (it keeps no data: nothing to migrate or seed)"""

from __future__ import annotations

import argparse

from services.validation.settings import ValidationSettings
from shared.logs import configure_logging
from shared.settings import SettingsError


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
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("validation", settings, lambda: build_app(settings))


if __name__ == "__main__":
    main()
