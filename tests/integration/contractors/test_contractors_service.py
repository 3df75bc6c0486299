"""The contractors service over real gRPC and PostgreSQL: register, events, scorecards, the list."""

from __future__ import annotations

import uuid

import grpc
import pytest

from elevins.contractors.v1 import contractors_pb2 as pb
from elevins.contractors.v1 import contractors_pb2_grpc
from shared.errors import details_of
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration

MONTHS = ("2026-08", "2026-09", "2026-10", "2026-11")  # the clock stands in 2026-12


def rid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def stub(contractors_channel) -> contractors_pb2_grpc.ContractorsServiceStub:
    return contractors_pb2_grpc.ContractorsServiceStub(contractors_channel)


@pytest.fixture
def service(mint):
    return meta(mint("service", subject="svc-exchange"))


async def register(stub, md, *, region: str = "430202", cid: str | None = None) -> str:
    cid = cid or f"ctr-{uuid.uuid4().hex[:10]}"
    await stub.RegisterContractor(
        pb.RegisterContractorRequest(
            request_id=rid(),
            contractor_id=cid,
            name=f"测试电梯维保 {cid}",
            licence_no=f"TS-{cid}",
            regions=[region],
            elevators_maintained=20,
            licensed_workers=5,
        ),
        metadata=md,
    )
    return cid


def month_of_jobs(cid: str, month: str, region: str, *, good: bool) -> list[pb.JobEvent]:
    """A month's work on ten elevators: all done well, or all but one badly."""
    events = []
    for e in range(10):
        day = f"{month}-{e + 3:02d}"
        common = {"contractor_id": cid, "region": region, "elevator_id": f"{cid}-E{e}"}
        ok = good or e < 1
        events += [
            pb.JobEvent(event_id=f"{month}-m{e}", kind="maintenance", occurred_on=day, **common),
            # Due every 15 days: a good firm's second visit of the month.
            *(
                [
                    pb.JobEvent(
                        event_id=f"{month}-n{e}",
                        kind="maintenance",
                        occurred_on=f"{month}-{e + 17:02d}",
                        **common,
                    )
                ]
                if ok
                else []
            ),
            pb.JobEvent(
                event_id=f"{month}-r{e}",
                kind="repair",
                occurred_on=day,
                part="door_operator",
                repaired_within_24h=ok,
                **common,
            ),
            pb.JobEvent(
                event_id=f"{month}-s{e}",
                kind="rescue",
                occurred_on=day,
                arrival_minutes=12.0 if ok else 45.0,
                **common,
            ),
            pb.JobEvent(
                event_id=f"{month}-q{e}",
                kind="quote",
                occurred_on=day,
                quoted_fen=100_000,
                trimmed_fen=0 if ok else 50_000,
                **common,
            ),
        ]
        if not ok:
            events.append(
                pb.JobEvent(event_id=f"{month}-c{e}", kind="complaint", occurred_on=day, **common)
            )
    return events


async def status_error(call) -> object:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


async def test_a_new_contractor_is_grey_and_can_read_why(stub, service, mint) -> None:
    cid = await register(stub, service)
    own = meta(mint("contractor", subject=cid, regions=("4302",)))
    standing = (
        await stub.GetContractorStanding(
            pb.GetContractorStandingRequest(contractor_id=cid), metadata=own
        )
    ).standing
    assert (standing.status, standing.reason_code, standing.period) == (
        "grey",
        "NEW_CONTRACTOR",
        "2026-12",
    )
    assert "灰名单" in standing.explanation_zh and "grey" in standing.explanation_en


async def test_bad_input_and_unknown_contractors_get_clear_errors(stub, service, mint) -> None:
    bad = await status_error(
        stub.RegisterContractor(
            pb.RegisterContractorRequest(
                request_id=rid(), contractor_id="bad id!", regions=["4302"], licensed_workers=-1
            ),
            metadata=service,
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in bad.violations} >= {
        "contractor_id",
        "name",
        "licence_no",
        "regions[0]",
        "licensed_workers",
    }
    unknown = await status_error(
        stub.GetContractorStanding(
            pb.GetContractorStandingRequest(contractor_id="nobody"), metadata=service
        )
    )
    assert (unknown.code, unknown.reason) == (grpc.StatusCode.NOT_FOUND, "CONTRACTOR_UNKNOWN")
    period = await status_error(
        stub.RecomputeScorecards(
            pb.RecomputeScorecardsRequest(request_id=rid(), period="2026-13"), metadata=service
        )
    )
    assert period.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in period.violations] == ["period"]
    future = await status_error(
        stub.RecomputeScorecards(
            pb.RecomputeScorecardsRequest(request_id=rid(), period="2027-02"), metadata=service
        )
    )
    assert future.code == grpc.StatusCode.FAILED_PRECONDITION


async def test_a_second_registration_with_another_licence_is_refused(stub, service) -> None:
    cid = await register(stub, service)
    again = await status_error(
        stub.RegisterContractor(
            pb.RegisterContractorRequest(
                request_id=rid(),
                contractor_id=cid,
                name="另一家",
                licence_no="TS-other",
                regions=["430202"],
            ),
            metadata=service,
        )
    )
    assert again.code == grpc.StatusCode.ALREADY_EXISTS


async def test_events_store_the_good_report_the_bad_and_skip_repeats(stub, service, mint) -> None:
    cid = await register(stub, service)
    events = [
        pb.JobEvent(
            event_id="e1",
            contractor_id=cid,
            region="430202",
            elevator_id="E1",
            kind="rescue",
            occurred_on="2026-11-03",
            arrival_minutes=14,
        ),
        pb.JobEvent(  # a rescue without its arrival time
            event_id="e2",
            contractor_id=cid,
            region="430202",
            elevator_id="E1",
            kind="rescue",
            occurred_on="2026-11-03",
        ),
        pb.JobEvent(
            event_id="e3",
            contractor_id="nobody",
            region="430202",
            elevator_id="E1",
            kind="complaint",
            occurred_on="2026-11-03",
        ),
        pb.JobEvent(
            event_id="e4",
            contractor_id=cid,
            region="430202",
            elevator_id="E1",
            kind="teleport",
            occurred_on="2026-11-31",
        ),
        pb.JobEvent(  # a region the partner does not serve
            event_id="e5",
            contractor_id=cid,
            region="110101",
            elevator_id="E9",
            kind="complaint",
            occurred_on="2026-11-04",
        ),
    ]
    partner = meta(mint("partner", subject="pm-zhuzhou", regions=("4302",)))
    first = await stub.RecordJobEvents(
        pb.RecordJobEventsRequest(request_id=rid(), events=events), metadata=partner
    )
    assert (first.stored, first.duplicates) == (1, 0)
    assert [(r.index, r.field) for r in first.rejected] == [
        (1, "arrival_minutes"),
        (2, "contractor_id"),
        (3, "kind"),
        (4, "region"),
    ]
    again = await stub.RecordJobEvents(
        pb.RecordJobEventsRequest(request_id=rid(), events=events[:1]), metadata=partner
    )
    assert (again.stored, again.duplicates) == (0, 1)


async def test_the_list_follows_the_work_with_hysteresis_and_a_readable_reason(
    stub, service, mint
) -> None:
    region = "430205"  # a region of their own: the peers are these two firms only
    good = await register(stub, service, region=region)
    bad = await register(stub, service, region=region)
    for month in MONTHS:
        events = month_of_jobs(good, month, region, good=True) + month_of_jobs(
            bad, month, region, good=False
        )
        for e in events:
            e.event_id = f"{e.contractor_id}-{e.event_id}"
        await stub.RecordJobEvents(
            pb.RecordJobEventsRequest(request_id=rid(), events=events), metadata=service
        )

    changes = []
    for month in MONTHS:
        reply = await stub.RecomputeScorecards(
            pb.RecomputeScorecardsRequest(request_id=rid(), period=month), metadata=service
        )
        changes += [
            (month, c.contractor_id, c.status)
            for c in reply.changes
            if c.contractor_id in (good, bad)
        ]
    # Three months in grey first (the minimum time in a state), then the scores decide.
    assert sorted(changes) == sorted([("2026-11", good, "white"), ("2026-11", bad, "black")])

    supervisor = meta(mint("supervisor", subject="sup-chen", regions=("4302",)))
    standing = (
        await stub.GetContractorStanding(
            pb.GetContractorStandingRequest(contractor_id=bad), metadata=supervisor
        )
    ).standing
    assert (standing.status, standing.reason_code, standing.since) == (
        "black",
        "SCORE_BELOW_BLACK_ENTRY",
        "2026-11",
    )
    history = (
        await stub.GetContractor(pb.GetContractorRequest(contractor_id=bad), metadata=supervisor)
    ).contractor.history
    assert [h.period for h in history] == list(reversed(MONTHS))
    assert [h.reason_code for h in history[1:]] == ["MIN_TIME_IN_STATE"] * 2 + ["NEW_CONTRACTOR"]

    # The same events give the same scorecards: recompute is reproducible.
    before = await stub.GetScorecard(
        pb.GetScorecardRequest(contractor_id=good, period="2026-10"), metadata=supervisor
    )
    await stub.RecomputeScorecards(
        pb.RecomputeScorecardsRequest(request_id=rid(), period="2026-10"), metadata=service
    )
    after = await stub.GetScorecard(
        pb.GetScorecardRequest(contractor_id=good, period="2026-10"), metadata=supervisor
    )
    assert before == after
    card = after.scorecard
    assert (card.rank, card.peers) == (1, 2) and len(card.metrics) == 9

    ranking = await stub.ListRankings(
        pb.ListRankingsRequest(region=region, period="2026-11", page_size=1), metadata=supervisor
    )
    assert [c.contractor_id for c in ranking.scorecards] == [good]
    rest = await stub.ListRankings(
        pb.ListRankingsRequest(
            region=region, period="2026-11", page_size=1, page_token=ranking.next_page_token
        ),
        metadata=supervisor,
    )
    assert [c.contractor_id for c in rest.scorecards] == [bad] and not rest.next_page_token


async def test_a_contractor_sees_only_itself(stub, service, mint) -> None:
    mine = await register(stub, service)
    theirs = await register(stub, service)
    own = meta(mint("contractor", subject=mine, regions=("4302",)))
    await stub.GetContractor(pb.GetContractorRequest(contractor_id=mine), metadata=own)
    other = await status_error(
        stub.GetContractor(pb.GetContractorRequest(contractor_id=theirs), metadata=own)
    )
    assert other.code == grpc.StatusCode.NOT_FOUND
    ranking = await status_error(
        stub.ListRankings(pb.ListRankingsRequest(region="430202", period="2026-11"), metadata=own)
    )
    assert ranking.code == grpc.StatusCode.PERMISSION_DENIED
    elsewhere = meta(mint("adjuster", subject="adj-bj", regions=("1101",)))
    hidden = await status_error(
        stub.GetContractorStanding(
            pb.GetContractorStandingRequest(contractor_id=mine), metadata=elsewhere
        )
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND


async def test_an_override_needs_a_second_person(stub, service, mint) -> None:
    cid = await register(stub, service)
    chen = meta(mint("supervisor", subject="sup-chen", regions=("4302",)))
    liu = meta(mint("supervisor", subject="sup-liu", regions=("4302",)))
    requested = (
        await stub.RequestOverride(
            pb.RequestOverrideRequest(
                request_id=rid(),
                contractor_id=cid,
                status="black",
                reason="伪造维保记录，市场监管局通报",
                effective_from="2026-12",
            ),
            metadata=chen,
        )
    ).override
    alone = await status_error(
        stub.ApproveOverride(
            pb.ApproveOverrideRequest(request_id=rid(), override_id=requested.override_id),
            metadata=chen,
        )
    )
    assert (alone.code, alone.reason) == (
        grpc.StatusCode.PERMISSION_DENIED,
        "SAME_PERSON_APPROVAL",
    )
    pending = (
        await stub.ListOverrides(pb.ListOverridesRequest(contractor_id=cid), metadata=liu)
    ).overrides
    assert [(o.override_id, o.approved_by) for o in pending] == [(requested.override_id, "")]
    assert pending[0].HasField("requested_at") and not pending[0].HasField("approved_at")
    assert pending[0].requested_at == requested.requested_at
    approved = await stub.ApproveOverride(
        pb.ApproveOverrideRequest(request_id=rid(), override_id=requested.override_id),
        metadata=liu,
    )
    assert approved.override.approved_by == "sup-liu"
    assert approved.override.approved_at.seconds >= approved.override.requested_at.seconds > 0
    assert (approved.standing.status, approved.standing.reason_code) == ("black", "MANUAL_OVERRIDE")
    assert "sup-chen" in approved.standing.explanation_en
    standing = (
        await stub.GetContractorStanding(
            pb.GetContractorStandingRequest(contractor_id=cid), metadata=service
        )
    ).standing
    assert standing.status == "black"

    listed = (
        await stub.ListOverrides(pb.ListOverridesRequest(contractor_id=cid), metadata=service)
    ).overrides
    assert [(o.approved_by, o.approved_at) for o in listed] == [
        ("sup-liu", approved.override.approved_at)
    ]


async def test_overrides_are_listed_newest_first_to_whoever_may_see_the_firm(
    stub, service, mint
) -> None:
    cid = await register(stub, service)
    chen = meta(mint("supervisor", subject="sup-chen", regions=("4302",)))
    ids = []
    for status in ("black", "grey", "white"):
        reply = await stub.RequestOverride(
            pb.RequestOverrideRequest(
                request_id=rid(),
                contractor_id=cid,
                status=status,
                reason=f"测试 {status}",
                effective_from="2026-12",
            ),
            metadata=chen,
        )
        ids.append(reply.override.override_id)
    own = meta(mint("contractor", subject=cid, regions=("4302",)))
    mine = await stub.ListOverrides(pb.ListOverridesRequest(contractor_id=cid), metadata=own)
    assert [o.override_id for o in mine.overrides] == list(reversed(ids))
    other = await register(stub, service)
    theirs = await status_error(
        stub.ListOverrides(pb.ListOverridesRequest(contractor_id=other), metadata=own)
    )
    assert theirs.code == grpc.StatusCode.NOT_FOUND
    elsewhere = meta(mint("supervisor", subject="sup-bj", regions=("1101",)))
    hidden = await status_error(
        stub.ListOverrides(pb.ListOverridesRequest(contractor_id=cid), metadata=elsewhere)
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND


def fresh_prefix() -> str:
    """A city of this test's own (valid GB/T 2260 shape), so other tests' firms stay out."""
    return f"6{uuid.uuid4().int % 900 + 100}"


async def test_the_list_shows_the_firms_a_person_may_see_with_their_standing(
    stub, service, mint
) -> None:
    city = fresh_prefix()
    east, west = f"{city}01", f"{city}02"
    a = await register(stub, service, region=east, cid=f"a-{uuid.uuid4().hex[:8]}")
    b = await register(stub, service, region=east, cid=f"b-{uuid.uuid4().hex[:8]}")
    c = await register(stub, service, region=west, cid=f"c-{uuid.uuid4().hex[:8]}")
    await register(stub, service, region="430202")  # another city's firm: never listed here
    staff = meta(mint("adjuster", subject="adj-x", regions=(city,)))

    async def listed(md, **request) -> list[tuple[str, str, str]]:
        reply = await stub.ListContractors(pb.ListContractorsRequest(**request), metadata=md)
        assert all(not c.history for c in reply.contractors)  # GetContractor has it
        return [
            (c.contractor_id, c.standing.status, c.standing.reason_code) for c in reply.contractors
        ]

    new = ("grey", "NEW_CONTRACTOR")
    assert await listed(staff) == [(a, *new), (b, *new), (c, *new)]
    assert await listed(staff, region=west) == [(c, *new)]
    assert await listed(staff, region="4302") == []  # outside this adjuster's regions
    own = meta(mint("contractor", subject=b, regions=(city,)))
    assert await listed(own) == [(b, *new)]

    first = await stub.ListContractors(pb.ListContractorsRequest(page_size=2), metadata=staff)
    rest = await stub.ListContractors(
        pb.ListContractorsRequest(page_size=2, page_token=first.next_page_token), metadata=staff
    )
    assert [c.contractor_id for c in (*first.contractors, *rest.contractors)] == [a, b, c]
    assert first.next_page_token and not rest.next_page_token

    # The standing in force: an approved override shows at once.
    chen = meta(mint("supervisor", subject="sup-chen", regions=(city,)))
    liu = meta(mint("supervisor", subject="sup-liu", regions=(city,)))
    requested = await stub.RequestOverride(
        pb.RequestOverrideRequest(
            request_id=rid(),
            contractor_id=a,
            status="black",
            reason="伪造记录",
            effective_from="2026-12",
        ),
        metadata=chen,
    )
    await stub.ApproveOverride(
        pb.ApproveOverrideRequest(request_id=rid(), override_id=requested.override.override_id),
        metadata=liu,
    )
    assert (await listed(staff, region=east))[0] == (a, "black", "MANUAL_OVERRIDE")

    bad = await status_error(
        stub.ListContractors(
            pb.ListContractorsRequest(region="43021", page_size=501, page_token="x"),
            metadata=staff,
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert sorted(v.field for v in bad.violations) == ["page_size", "page_token", "region"]


async def test_the_months_with_scorecards_are_listed_newest_first(stub, service, mint) -> None:
    region = f"{fresh_prefix()}03"
    firm = await register(stub, service, region=region)
    for month in ("2026-09", "2026-11"):
        events = month_of_jobs(firm, month, region, good=True)
        for e in events:
            e.event_id = f"{firm}-{e.event_id}"
        await stub.RecordJobEvents(
            pb.RecordJobEventsRequest(request_id=rid(), events=events), metadata=service
        )
        await stub.RecomputeScorecards(
            pb.RecomputeScorecardsRequest(request_id=rid(), period=month), metadata=service
        )
    staff = meta(mint("adjuster", subject="adj-x", regions=(region[:4],)))
    reply = await stub.ListScorecardPeriods(
        pb.ListScorecardPeriodsRequest(region=region), metadata=staff
    )
    assert list(reply.periods) == ["2026-11", "2026-09"]

    own = meta(mint("contractor", subject=firm, regions=(region[:4],)))
    elsewhere = meta(mint("adjuster", subject="adj-bj", regions=("1101",)))
    for md in (own, elsewhere):
        refused = await status_error(
            stub.ListScorecardPeriods(pb.ListScorecardPeriodsRequest(region=region), metadata=md)
        )
        assert (refused.code, refused.reason) == (
            grpc.StatusCode.PERMISSION_DENIED,
            "REGION_FORBIDDEN",
        )
    bad = await status_error(
        stub.ListScorecardPeriods(pb.ListScorecardPeriodsRequest(region="4302"), metadata=staff)
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
