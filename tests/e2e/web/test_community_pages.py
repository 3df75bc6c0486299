"""The community pages in a real browser: an adjuster of Zhuzhou reads a community's elevators,
the vote that enrolled one with its exact fractions, its policy and who paid the premium; an
adjuster of Hangzhou sees none of it.

Besides the city's two insured elevators (whose premium the appreciation income paid whole),
the module registers a community where the owners pay part of it: 300 CNY of appreciation
income, 1,000 CNY shared by floor area 90 : 110 : 100, from personal accounts where they suffice.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from decimal import Decimal

import grpc
import pytest
from playwright.async_api import Page, expect

from elevins.policy.v1 import policy_pb2 as pb
from tests.e2e.web.conftest import shoot, signed_in
from tests.integration.policy.helpers import World, rid

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Town:
    community: pb.Community
    insured: pb.Elevator
    uninsured: pb.Elevator
    flats: list[pb.Flat]
    policy: pb.Policy


@pytest.fixture(scope="module")
async def town(city, mint) -> Town:
    async with grpc.aio.insecure_channel(city.procs["policy"].addr) as channel:
        world = World(channel, mint("service"))
        community = await world.community(region="430202", appreciation_fen=30_000)
        cid = community.community_id
        flats = await world.flats(
            cid, ["90.00", "110.00", "100.00"], balances=[50_000, 1_000, None]
        )
        await world.flats(cid, ["80.00", "85.50"], unit="2")
        insured = await world.elevator(cid, unit="1")
        uninsured = await world.elevator(cid, unit="2", inspected_on=None)
        await world.vote(insured.elevator_id, {flats[0].owner_id: pb.BALLOT_CHOICE_AGREE})
        await world.vote(
            insured.elevator_id, {f.owner_id: pb.BALLOT_CHOICE_AGREE for f in flats[:2]}
        )
        policy = (
            await world.stub.IssuePolicy(
                pb.IssuePolicyRequest(
                    request_id=rid(),
                    elevator_id=insured.elevator_id,
                    product_code="ELEV-REPAIR-STD",
                ),
                metadata=world.md,
            )
        ).policy
    return Town(community, insured, uninsured, flats, policy)


def _fen(text: str) -> int:
    """ "¥1,300.00" → 130000."""
    return int(Decimal(text.strip().lstrip("¥").replace(",", "")) * 100)


async def _headings_in_order(page: Page) -> None:
    levels = await page.eval_on_selector_all(
        "main h1, main h2, main h3, main h4", "hs => hs.map(h => Number(h.tagName[1]))"
    )
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in itertools.pairwise(levels)), levels


async def test_the_adjuster_lists_the_communities_of_zhuzhou(browser, city, town) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.get_by_role("link", name="小区", exact=True).click()
    await page.wait_for_url("**/communities")
    await expect(page.locator("h1")).to_have_text("小区")
    row = page.locator("table.communities tbody tr", has_text=town.community.name)
    await expect(row).to_have_count(1)
    cells = row.locator("td")
    await expect(cells.nth(0)).to_have_text("430202 株洲市荷塘区")
    await expect(cells.nth(1)).to_have_text("2")  # elevators
    await expect(cells.nth(2)).to_have_text("1")  # insured
    await expect(cells.nth(3)).to_have_text("¥0.00")  # the 300 CNY went to the premium
    # The city's own communities are there too, and nothing from outside Zhuzhou.
    regions = await page.locator("table.communities tbody td:nth-of-type(1)").all_inner_texts()
    assert len(regions) >= 3 and all(r.startswith("4302") for r in regions)
    await shoot(page, "communities")
    await _headings_in_order(page)
    await page.context.close()


async def test_the_adjuster_reads_a_communitys_votes_policy_and_allocation(
    browser, city, town
) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.goto(f"{city.base_url}/communities")
    await page.get_by_role("link", name=town.community.name).click()
    await page.wait_for_url(f"**/communities/{town.community.community_id}")
    await expect(page.locator("h1")).to_have_text(town.community.name)

    overview = page.locator("table.overview tbody tr")
    await expect(overview).to_have_count(2)
    await expect(overview.nth(0).locator("td")).to_have_text(
        ["1 栋 1 单元", re.compile("有效$"), "通过", re.compile(r"^有效至 \d{4}-\d\d-\d\d$")]
    )
    await expect(overview.nth(1).locator("td")).to_have_text(
        ["1 栋 2 单元", re.compile("无检验记录"), "—", "未投保"]
    )

    elevator = page.locator("section.elevator", has_text=town.insured.spec.registration_code)
    await expect(elevator.locator("h2")).to_contain_text("1 栋 1 单元")
    await expect(elevator.locator("h2 .badge")).to_have_text("在保")
    await expect(elevator).to_contain_text(town.insured.spec.equipment_code)
    other = page.locator("section.elevator", has_text=town.uninsured.spec.registration_code)
    await expect(other.locator("h2 .badge")).to_have_text("未投保")
    await expect(other).to_contain_text("无检验记录")
    await expect(other).to_contain_text("尚无表决")

    # Newest vote first: two of three owners, 200 of 300 m², took part and agreed.
    votes = elevator.locator("table.tally")
    await expect(votes).to_have_count(2)
    passed = votes.nth(0)
    await expect(passed.locator("caption .badge")).to_have_text("通过")
    turnout = passed.locator("tbody tr", has_text="参与表决面积占比")
    await expect(turnout.locator("td")).to_have_text(["2/3", "0.6667"])
    agree = passed.locator("tbody tr", has_text="同意面积占比")
    await expect(agree.locator("td")).to_have_text(["1", "1.0000"])
    explained = elevator.locator("ul.explain").first
    await expect(explained.locator("li").first).to_have_text(
        "参与表决的面积占总面积 0.6667 ≥ 2/3 ✓"
    )
    await expect(explained.locator("li").last).to_contain_text("通过：4 项条件全部满足")
    # The earlier, failed vote is folded away until asked for.
    earlier = elevator.locator("details.vote")
    await expect(earlier.locator("summary")).to_contain_text("更早的表决：未通过")
    unmet = earlier.locator("ul.explain li.unmet")
    await expect(unmet.first).to_be_hidden()
    await earlier.locator("summary").click()
    await expect(unmet.first).to_have_text("参与表决的面积占总面积 0.3000 < 2/3 ✗")
    await expect(earlier.locator("table.tally caption .badge")).to_have_text("未通过")

    policy = elevator.locator(f"#p-{town.policy.policy_id}")
    await expect(policy).to_contain_text("当前有效")
    await expect(policy).to_contain_text("¥1,300.00")
    await expect(policy).to_contain_text("¥150,000.00")
    lines = policy.locator("table.allocation tbody tr")
    await expect(lines).to_have_count(3)
    await expect(lines.nth(0).locator("th")).to_have_text("1 栋 1 单元 001 室")
    shares = [_fen(t) for t in await lines.locator("td:nth-of-type(2)").all_inner_texts()]
    accounts = [_fen(t) for t in await lines.locator("td:nth-of-type(3)").all_inner_texts()]
    cash = [_fen(t) for t in await lines.locator("td:nth-of-type(4)").all_inner_texts()]
    assert shares == [30_000, 36_667, 33_333]
    assert accounts == [30_000, 1_000, 0]
    assert cash == [0, 35_667, 33_333]
    appreciation = _fen(await policy.locator("tfoot tr.appreciation td").first.inner_text())
    premium = _fen(await policy.locator("tfoot tr.premium-total td").first.inner_text())
    assert appreciation == 30_000 and premium == 130_000
    assert appreciation + sum(shares) == premium
    await expect(policy.locator("tfoot tr.premium-total .badge")).to_have_text("逐分核对一致")

    # Owners are shown in part only: the surname, the last 4 characters of an id.
    html = await page.content()
    assert "张三" not in html
    for flat in town.flats:
        assert flat.owner_id not in html
        await expect(lines.filter(has_text=f"****{flat.owner_id[-4:]}")).to_have_count(1)
    await expect(lines.nth(0).locator("td").first).to_contain_text("张*")
    await shoot(page, "community")
    await _headings_in_order(page)

    # The same page in English says the service's explanation in English words.
    await page.goto(f"{city.base_url}/lang/en?next=/communities/{town.community.community_id}")
    await page.wait_for_url(f"**/communities/{town.community.community_id}")
    first = page.locator("section.elevator ul.explain li").first
    await expect(first).to_have_text("area taking part, of all area 0.6667 ≥ 2/3 ✓")
    await shoot(page, "community-en")
    await page.context.close()


async def test_an_adjuster_of_another_region_sees_none_of_it(browser, city, town) -> None:
    page = await signed_in(browser, city, "outsider")
    await page.goto(f"{city.base_url}/communities")
    await expect(page.locator("table.communities tbody tr")).to_have_count(1)
    await expect(page.locator("table.communities tbody")).to_have_text("没有可查看的小区。")
    await shoot(page, "communities-outsider")
    refused = await page.goto(f"{city.base_url}/communities/{town.community.community_id}")
    assert refused is not None and refused.status in (403, 404)
    assert town.community.name not in await page.content()
    missing = await page.goto(f"{city.base_url}/communities/com_does_not_exist")
    assert missing is not None and missing.status == 404
    await page.context.close()


async def test_a_contractor_may_not_open_the_community_pages(browser, city, town) -> None:
    page = await signed_in(browser, city, "contractor_a")
    for path in ("/communities", f"/communities/{town.community.community_id}"):
        reply = await page.goto(f"{city.base_url}{path}")
        assert reply is not None and reply.status == 403, path
    await page.context.close()
