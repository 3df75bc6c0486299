"""python -m services.exchange serve | migrate | seed | import FILE | push-secret PARTNER"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"
CHUNK = 1024 * 1024


async def import_file(args: argparse.Namespace) -> int:
    """Streams a file to a running exchange and prints its progress as the batches land."""
    import grpc

    from elevins.exchange.v1 import exchange_pb2 as pb
    from elevins.exchange.v1 import exchange_pb2_grpc
    from shared.errors import details_of

    token = os.environ.get("EXCHANGE_TOKEN", "")
    if not token:
        print("set EXCHANGE_TOKEN to a partner or service token", file=sys.stderr)
        return 2
    path = Path(args.file)

    async def messages() -> AsyncIterator[pb.ImportFileRequest]:
        yield pb.ImportFileRequest(
            header=pb.ImportFileHeader(
                request_id=args.request_id or uuid.uuid4().hex,
                kind=args.kind,
                format=args.format,
                file_name=path.name,
            )
        )
        with path.open("rb") as f:  # noqa: ASYNC230  (a command-line tool: nothing else runs)
            while chunk := f.read(CHUNK):
                yield pb.ImportFileRequest(chunk=chunk)

    async with grpc.aio.insecure_channel(args.addr) as channel:
        stub = exchange_pb2_grpc.ExchangeServiceStub(channel)
        try:
            async for reply in stub.ImportFile(
                messages(), metadata=(("authorization", f"Bearer {token}"),)
            ):
                r = reply.report
                print(
                    f"{r.state:8} rows {r.rows:>10,}  applied {r.applied:>10,}  unchanged "
                    f"{r.unchanged:>10,}  stale {r.stale:>8,}  rejected {r.rejected:>8,}  "
                    f"warnings {r.warnings:>8,}",
                    flush=True,
                )
                if reply.final:
                    for j in r.rejections[: args.show]:
                        print(f"  row {j.row}  {j.record_id}  {j.field}  {j.code}  {j.reason}")
                    more = r.rejected - min(args.show, len(r.rejections))
                    if more > 0:
                        print(f"  … ListRejections(import_id={r.import_id!r}) for the rest")
        except grpc.aio.AioRpcError as error:
            d = details_of(error)
            print(f"{d.code.name} {d.reason}: {d.message}", file=sys.stderr)
            for v in d.violations:
                print(f"  {v.field}: {v.description}", file=sys.stderr)
            return 1
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.exchange")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="serve gRPC (and relay notifications) until SIGTERM")
    sub.add_parser("migrate", help="bring the exchange schema to the latest revision")
    sub.add_parser("seed", help="the demo city's partners (Zhuzhou)")
    imp = sub.add_parser("import", help="import a file through a running exchange (progress)")
    imp.add_argument("file")
    imp.add_argument("--kind", required=True)
    imp.add_argument("--format", default="", help="a format id (ListFormats); empty: our names")
    imp.add_argument("--addr", default=os.environ.get("EXCHANGE_ADDR", "127.0.0.1:50057"))
    imp.add_argument("--request-id", default="")
    imp.add_argument("--show", type=int, default=20, help="rejections to print")
    secret = sub.add_parser("push-secret", help="a partner's push-signing secret (hex)")
    secret.add_argument("partner_id")
    args = parser.parse_args()
    if args.command == "import":
        sys.exit(asyncio.run(import_file(args)))

    from services.exchange.settings import ExchangeSettings
    from shared.logs import configure_logging
    from shared.settings import SettingsError

    try:
        settings = ExchangeSettings.from_env()
    except SettingsError as error:
        raise SystemExit(f"exchange: {error}") from None
    configure_logging("exchange", settings.log_level)
    if args.command == "migrate":
        from services.exchange.server import SCHEMA
        from shared.migrations import upgrade

        upgrade(MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    elif args.command == "push-secret":
        from services.exchange.domain.signing import partner_secret
        from shared.auth import parse_keys

        key = next(iter(parse_keys(settings.auth_key.reveal()).values()))
        print(partner_secret(key, args.partner_id).hex())
    elif args.command == "seed":
        from services.exchange.seed import seed_demo_partners

        asyncio.run(seed_demo_partners(settings))
    else:
        from services.exchange.server import build_app
        from shared.grpc_server import serve_until_stopped

        serve_until_stopped("exchange", settings, lambda: build_app(settings)[0])


if __name__ == "__main__":
    main()
