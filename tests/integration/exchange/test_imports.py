"""Imports over real gRPC, validation and PostgreSQL: good rows applied, bad rows reported
exactly, a re-sent file changes nothing, regions and feeds enforced."""

from __future__ import annotations

import grpc
import pytest

from elevins.exchange.v1 import exchange_pb2 as pb
from elevins.exchange.v1 import exchange_pb2_grpc
from shared.errors import details_of
from tests.integration.exchange.helpers import csv_bytes, import_file, register, rid
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration

# zz-msb's v2 export (formats.toml): Chinese column names, ISO dates.
HEADER = [
    "记录编号", "版本号", "行政区划代码", "设备代码", "使用登记证编号", "使用地点", "制造日期",
    "安装日期", "使用登记日期", "上次检验日期", "下次检验日期", "层站数", "钢丝绳根数",
    "额定速度(m/s)",
]  # fmt: skip


def row(rid_: str, n: int, **changes: str) -> list[str]:
    values = {
        "记录编号": rid_,
        "版本号": "1",
        "行政区划代码": "430202",
        "设备代码": f"3110430202201809{n % 10000:04d}",
        "使用登记证编号": f"梯11湘B{n:05d}(18)",
        "使用地点": "荷塘区新华西路1号",
        "制造日期": "2017-05-01",
        "安装日期": "2018-03-01",
        "使用登记日期": "2018-09-01",
        "上次检验日期": "2025-06-01",
        "下次检验日期": "2026-06-01",
        "层站数": "18",
        "钢丝绳根数": "6",
        "额定速度(m/s)": "1.75",
    }
    values.update(changes)
    return [values[h] for h in HEADER]


@pytest.fixture
def stub(exchange_channel) -> exchange_pb2_grpc.ExchangeServiceStub:
    return exchange_pb2_grpc.ExchangeServiceStub(exchange_channel)


@pytest.fixture
async def msb(stub, mint):
    await register(
        stub, mint, "zz-msb", kind="market_supervision", feeds=("registry", "inspection")
    )
    return meta(mint("partner", subject="zz-msb", regions=("4302",)))


async def stored(exchange_app, partner: str, ids: list[str]) -> dict[str, tuple[int, str]]:
    """What the table holds for these record ids: id → (version, registration number)."""
    _, usecases = exchange_app

    async def work(store):
        import sqlalchemy as sa

        rows = await store.conn.execute(
            sa.text(
                "SELECT record_id, version, registration_no FROM registry_records "
                "WHERE partner_id = :p AND record_id = ANY(:ids)"
            ),
            {"p": partner, "ids": ids},
        )
        return {r.record_id: (r.version, r.registration_no) for r in rows}

    return await usecases.read(work)


async def test_a_mixed_file_imports_the_good_rows_reports_the_bad_and_a_resend_changes_nothing(
    stub, msb, exchange_app
) -> None:
    p = rid()[:8]
    ids = [f"{p}-{i}" for i in range(8)]
    rows = [
        row(ids[0], 1),
        row(ids[1], 2, 安装日期="2018-02-30"),  # no such day
        row(ids[2], 3, 设备代码="123456"),  # REG_EQUIPMENT_CODE_FORMAT (an error rule)
        row(ids[3], 4, 行政区划代码="430102"),  # Changsha: not zz-msb's region
        row(ids[4], 5, 额定速度="", **{"额定速度(m/s)": "25"}),  # a warning: applied, flagged
        row(ids[5], 6, 层站数="十八", 使用登记证编号=""),  # two bad fields in one row
        row(ids[6], 7),
        row(ids[0], 1),  # an exact repeat of the first row: nothing to say
    ]
    data = csv_bytes(HEADER, rows)
    _, report = await import_file(stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=data)

    assert (report.state, report.rows, report.applied, report.rejected) == ("done", 8, 3, 4)
    assert (report.unchanged, report.stale, report.warnings) == (1, 0, 1)
    assert {(r.row, r.record_id, r.field, r.code) for r in report.rejections} == {
        (3, ids[1], "install_date", "FIELD_INVALID"),
        (4, ids[2], "equipment_code", "REG_EQUIPMENT_CODE_FORMAT"),
        (5, ids[3], "region_code", "REGION_FORBIDDEN"),
        (7, ids[5], "landings", "FIELD_INVALID"),
        (7, ids[5], "registration_no", "FIELD_REQUIRED"),
    }
    assert len(report.rejections) == 5
    assert await stored(exchange_app, "zz-msb", ids) == {
        ids[0]: (1, "梯11湘B00001(18)"),
        ids[4]: (1, "梯11湘B00005(18)"),
        ids[6]: (1, "梯11湘B00007(18)"),
    }

    # The same file again (a new request): nothing changes, the same rows are refused.
    _, again = await import_file(stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=data)
    assert (again.applied, again.unchanged, again.rejected, again.rows) == (0, 4, 4, 8)
    assert {(r.row, r.field, r.code) for r in again.rejections} == {
        (r.row, r.field, r.code) for r in report.rejections
    }
    assert len(await stored(exchange_app, "zz-msb", ids)) == 3

    # A higher version replaces; a lower one is stale; the same version with other values is
    # refused, not silently applied.
    update = csv_bytes(
        HEADER,
        [
            row(ids[0], 1, 版本号="2", 使用登记证编号="梯11湘B99999(18)"),
            row(ids[4], 5, 版本号="1", 使用登记证编号="梯11湘B88888(18)"),
        ],
    )
    _, changed = await import_file(
        stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=update
    )
    assert (changed.applied, changed.rejected) == (1, 1)
    assert [(r.row, r.code) for r in changed.rejections] == [(3, "VERSION_CONFLICT")]
    assert (await stored(exchange_app, "zz-msb", [ids[0]]))[ids[0]] == (2, "梯11湘B99999(18)")
    old = csv_bytes(HEADER, [row(ids[0], 1)])
    _, stale = await import_file(stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=old)
    assert (stale.stale, stale.applied) == (1, 0)

    # The report stays readable, and the rejections page on row boundaries.
    got = await stub.GetImport(pb.GetImportRequest(import_id=report.import_id), metadata=msb)
    assert got.report.rejected == 4
    page = await stub.ListRejections(
        pb.ListRejectionsRequest(import_id=report.import_id, page_size=3), metadata=msb
    )
    assert [r.row for r in page.rejections] == [3, 4, 5] and page.next_page_token
    rest = await stub.ListRejections(
        pb.ListRejectionsRequest(import_id=report.import_id, page_token=page.next_page_token),
        metadata=msb,
    )
    assert [r.row for r in rest.rejections] == [7, 7] and not rest.next_page_token


async def test_a_long_file_reports_progress_batch_by_batch(stub, msb) -> None:
    p = rid()[:8]
    rows = [row(f"{p}-{i}", i) for i in range(2500)]  # batches of 1,000 in the test stack
    replies, report = await import_file(
        stub,
        msb,
        kind="registry",
        fmt="zz-msb/registry/v2",
        data=csv_bytes(HEADER, rows, "gb18030"),
    )
    assert [r.report.rows for r in replies] == [1000, 2000, 2500, 2500]
    assert [r.report.state for r in replies] == ["running", "running", "running", "done"]
    assert (report.applied, report.rejected) == (2500, 0)


async def test_records_over_grpc_by_our_field_names(stub, msb) -> None:
    records = [
        pb.Record(
            record_id=f"insp-{rid()[:8]}",
            version=1,
            fields={
                "region_code": "430202",
                "equipment_code": "31104302022018090001",
                "inspected_on": "2026-05-20",
                "result": result,
                "next_due": "2027-05-20",
            },
        )
        for result in ("passed", "burnt")
    ]
    reply = await stub.ImportRecords(
        pb.ImportRecordsRequest(request_id=rid(), kind="inspection", records=records), metadata=msb
    )
    assert (reply.report.applied, reply.report.rejected) == (1, 1)
    (bad,) = reply.report.rejections
    assert (bad.row, bad.field, bad.code) == (2, "result", "INSP_RESULT_UNKNOWN")


async def test_a_partner_cannot_write_or_read_another_regions_records(stub, mint, msb) -> None:
    # Changsha's bureau, and a Zhuzhou IoT platform that may only send alarms.
    await register(
        stub, mint, "cs-msb", kind="market_supervision", feeds=("registry",), regions=("4301",)
    )
    await register(stub, mint, "zz-iot-t", kind="iot_platform", feeds=("alarm",))
    changsha = meta(mint("partner", subject="cs-msb", regions=("4301",)))
    p = rid()[:8]
    data = csv_bytes(HEADER, [row(f"{p}-0", 1), row(f"{p}-1", 2, 行政区划代码="430102")])
    # cs-msb may not use zz-msb's format, and may not write Zhuzhou's elevators with its own.
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await import_file(stub, changsha, kind="registry", fmt="zz-msb/registry/v2", data=data)
    assert details_of(caught.value).violations[0].field == "format"
    records = [
        pb.Record(record_id=f"{p}-{n}", version=1, fields=dict(zip(
            ["region_code", "equipment_code", "registration_no", "landings"],
            [region, f"3110{region}2018090001", "梯11湘A00001", "12"], strict=True)))
        for n, region in enumerate(("430202", "430102"))
    ]  # fmt: skip
    reply = await stub.ImportRecords(
        pb.ImportRecordsRequest(request_id=rid(), kind="registry", records=records),
        metadata=changsha,
    )
    assert [(r.row, r.field, r.code) for r in reply.report.rejections] == [
        (1, "region_code", "REGION_FORBIDDEN")
    ]
    assert reply.report.applied == 1

    # Nor read Zhuzhou's import reports; and a feed it is not registered for is refused.
    _, zz = await import_file(stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=data)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.GetImport(pb.GetImportRequest(import_id=zz.import_id), metadata=changsha)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    iot = meta(mint("partner", subject="zz-iot-t", regions=("4302",)))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ImportRecords(
            pb.ImportRecordsRequest(request_id=rid(), kind="registry", records=records[:1]),
            metadata=iot,
        )
    assert details_of(caught.value).reason == "FEED_FORBIDDEN"


async def test_a_file_that_does_not_fit_its_format_is_refused_whole(
    stub, msb, exchange_app
) -> None:
    p = rid()[:8]
    data = csv_bytes([*HEADER[:-1], "电梯品牌"], [[*row(f"{p}-0", 1)[:-1], "奥的斯"]])
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await import_file(stub, msb, kind="registry", fmt="zz-msb/registry/v2", data=data)
    found = details_of(caught.value)
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert all(v.field == "header" for v in found.violations)
    assert any("电梯品牌" in v.description for v in found.violations)
    assert await stored(exchange_app, "zz-msb", [f"{p}-0"]) == {}


async def test_a_file_unreadable_past_its_first_batches_keeps_them_and_fails(stub, msb) -> None:
    # Batches are written while the next is read: the row that cannot be read (more cells
    # than the header names, in the third batch) fails the import, the two batches before it
    # stay applied, each whole, and the report says so.
    p = rid()[:8]
    rows = [row(f"{p}-{i}", i) for i in range(2500)]
    rows[2200] = [*rows[2200], "多余"]
    data = csv_bytes(HEADER, rows)

    async def messages():
        yield pb.ImportFileRequest(
            header=pb.ImportFileHeader(
                request_id=rid(), kind="registry", format="zz-msb/registry/v2"
            )
        )
        yield pb.ImportFileRequest(chunk=data)

    seen: list[pb.ImportFileResponse] = []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        async for reply in stub.ImportFile(messages(), metadata=msb):
            seen.append(reply)
    found = details_of(caught.value)
    assert found.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "row 2202 has more cells" in found.violations[0].description
    got = await stub.GetImport(
        pb.GetImportRequest(import_id=seen[0].report.import_id), metadata=msb
    )
    assert (got.report.state, got.report.rows, got.report.applied) == ("failed", 2000, 2000)
