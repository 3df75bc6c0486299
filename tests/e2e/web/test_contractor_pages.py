"""The contractor pages in a real browser, on Zhuzhou's demo contractors (six months of job
events, scorecards and standings from `python -m services.contractors seed`).

The tests share one city and run in file order: the ranking with the black/white list and its
reasons, a scorecard with its trends and list history, then a list override that one
supervisor requests and only a second supervisor can approve. Which firm ends up on which list
follows from the seed's random (but fixed) job events, so the tests find the firms by what the
page shows rather than by name.
"""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Page, expect

from tests.e2e.web.conftest import shoot, signed_in
from tests.e2e.web.stack import PEOPLE

pytestmark = pytest.mark.integration

CJK = re.compile(r"[\u4e00-\u9fff]")
# Every reason code's words in Chinese (the catalogue): a badge must come with one of these.
REASONS_ZH = (
    "新纳入名单",
    "本月无可评分作业",
    "综合得分达到白名单准入线",
    "综合得分低于白名单退出线",
    "综合得分低于黑名单纳入线",
    "综合得分高于黑名单退出线",
    "综合得分未越过变更阈值",
    "已达变更条件，但未满最短期限",
    "检验一次合格率低于 70%",
    "检验一次合格率低于 60%",
    "经两人复核的人工设定",
)
STATUS_ZH = {"white": "白名单", "grey": "灰名单", "black": "黑名单"}


async def _regions(page: Page) -> list[str]:
    return [
        (await option.get_attribute("value")) or ""
        for option in await page.locator("#f-region option").all()
    ]


async def _rows(page: Page) -> list[dict[str, str]]:
    """The ranking table as the reader sees it: firm id, rank, score, badge, reason."""
    rows = []
    for row in await page.locator("table.ranking tbody tr").all():
        badge = row.locator(".badge")
        rows.append(
            {
                "id": (await row.get_attribute("data-contractor")) or "",
                "rank": (await row.locator("td").nth(0).inner_text()).strip(),
                "score": (await row.locator("td").nth(1).inner_text()).strip(),
                "status": ((await badge.get_attribute("class")) or "").split("list-")[-1],
                "badge": (await badge.inner_text()).strip(),
                "reason": (await row.locator(".reason").inner_text()).strip(),
                "explanation": (await row.locator("small.hint").last.inner_text()).strip(),
            }
        )
    return rows


async def _every_firm(page: Page, base_url: str, query: str = "") -> dict[str, dict[str, str]]:
    await page.goto(f"{base_url}/contractors")
    firms: dict[str, dict[str, str]] = {}
    for region in await _regions(page):
        await page.goto(f"{base_url}/contractors?region={region}{query}")
        for row in await _rows(page):
            firms.setdefault(row["id"], {**row, "region": region})
    return firms


async def test_the_ranking_shows_each_firm_with_its_list_status_and_reason(browser, city) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.get_by_role("link", name="维保单位").click()
    await expect(page.locator("h1")).to_have_text("维保单位排名与黑白名单")
    assert await _regions(page) == ["430202", "430203", "430204", "430211"]
    # The latest month with scorecards is shown first; the seed computed the six before this one.
    months = await page.locator("#f-period option").all_inner_texts()
    assert len(months) == 6 and months == sorted(months, reverse=True)
    await expect(page.locator("#h-ranking")).to_have_text(
        f"430202 株洲市荷塘区：{months[0]} 月排名"
    )
    rows = [r for r in await _rows(page) if r["rank"] != "—"]  # "—": no scorecard this month
    assert [r["rank"] for r in rows] == [
        f"第 {i} / {len(rows)} 名" for i in range(1, len(rows) + 1)
    ]
    scores = [float(r["score"]) for r in rows]
    assert scores == sorted(scores, reverse=True) and all(0 <= s <= 100 for s in scores)
    await shoot(page, "contractors-ranking")

    firms = await _every_firm(page, city.base_url)
    assert {"demo-contractor", "zz-lift-02", "zz-lift-03", "zz-lift-04", "zz-lift-05"} <= set(firms)
    # The demo shows the list at work: some firm on each of the three lists.
    assert {f["status"] for f in firms.values()} == {"white", "grey", "black"}
    for firm in firms.values():
        assert firm["badge"] == STATUS_ZH[firm["status"]]
        assert firm["reason"].startswith(REASONS_ZH), firm
        assert CJK.search(firm["explanation"]), firm  # the service's own words, in Chinese

    # The status filter, through the form.
    black = next(f for f in firms.values() if f["status"] == "black")
    await page.goto(f"{city.base_url}/contractors?region={black['region']}")
    await page.get_by_label("名单").select_option("black")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url(re.compile(r"status=black"))
    only = await _rows(page)
    assert (
        only and {r["status"] for r in only} == {"black"} and black["id"] in {r["id"] for r in only}
    )
    await shoot(page, "contractors-ranking-black")


async def test_the_scorecard_shows_every_metric_the_trend_and_the_list_history(
    browser, city
) -> None:
    page = await signed_in(browser, city, "adjuster")
    firms = await _every_firm(page, city.base_url, "&status=black")
    firm = next(iter(firms.values()))
    await page.goto(f"{city.base_url}/contractors?region={firm['region']}")
    await page.locator(f"tr[data-contractor='{firm['id']}'] a").click()
    await page.wait_for_url(f"**/contractors/{firm['id']}")
    await expect(page.locator("h1 .badge")).to_have_text("黑名单")
    await expect(page.locator("#standing .reason")).to_have_text(firm["reason"])

    # The composite trend: an SVG line through the months that have a scorecard.
    chart = page.locator("svg#trend-chart")
    await expect(chart.locator("#trend-chart-title")).to_have_text("综合得分趋势（近 12 个月）")
    points = await chart.locator("circle.point").count()
    await page.get_by_text("数据表").click()  # the table behind the chart opens
    table_values = await page.locator(".trend-table tbody td:nth-child(2)").all_inner_texts()
    assert len(table_values) == 12  # the data table behind the chart: every month
    assert points == sum(1 for v in table_values if v != "—") >= 3
    line = await chart.locator("polyline.line").first.get_attribute("points") or ""
    assert len(line.split()) >= 2
    assert await chart.locator("text").filter(has_text="100").count() == 1  # the y axis

    # Every metric with its rate, shrunk rate and interval, and a sparkline of its trend.
    metrics = page.locator("table.metrics tbody tr")
    await expect(metrics).to_have_count(9)
    names = await page.locator("table.metrics tbody th").all_inner_texts()
    assert names[0] == "15 分钟内到场救援" and names[-1] == "检验一次合格"
    assert all("metric." not in n for n in names)
    assert await page.locator("table.metrics svg.spark").count() == 9
    assert await page.locator("svg#metric-chart rect.bar").count() >= 5

    # The list history: every month decided, each status with its reason in words.
    history = page.locator("table.history tbody tr")
    await expect(history).to_have_count(6)
    for reason in await page.locator("table.history .reason").all_inner_texts():
        assert reason.startswith(REASONS_ZH), reason
    assert "黑名单" in await page.locator("table.history .badge").all_inner_texts()
    await shoot(page, "contractor-scorecard")

    # An adjuster reads; only supervisors (and senior reviewers) may ask for an override.
    await expect(page.get_by_role("button", name="提交申请")).to_have_count(0)

    # In English, the service's explanation in English.
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("#h-history")).to_have_text("List status history")
    explanation = await page.locator("#standing small.hint").inner_text()
    assert explanation and not CJK.search(explanation)
    await shoot(page, "contractor-scorecard-en")


async def test_a_contractor_cannot_open_the_list(browser, city) -> None:
    page = await signed_in(browser, city, "contractor_a")
    reply = await page.goto(f"{city.base_url}/contractors")
    assert reply is not None and reply.status == 403


async def test_an_override_needs_a_second_supervisor(browser, city) -> None:
    firm_id = "zz-lift-05"
    zhao = await signed_in(browser, city, "supervisor")
    await zhao.goto(f"{city.base_url}/contractors/{firm_id}")
    before = await zhao.locator("h1 .badge").inner_text()
    target = "白名单" if before == "黑名单" else "黑名单"
    reason = "维保记录造假，市场监管局 2026 年第 12 号通报"
    await zhao.get_by_label("设定为").select_option(label=target)
    await zhao.get_by_label("理由").fill(reason)
    await expect(zhao.get_by_label("生效月份")).to_have_value(re.compile(r"^\d{4}-\d{2}$"))
    await zhao.get_by_role("button", name="提交申请").click()
    await expect(zhao.locator(".flash.ok")).to_be_visible()
    pending = zhao.locator("table.overrides tbody tr")
    await expect(pending).to_have_count(1)
    await expect(pending.locator(".badge.override-state")).to_have_text("待复核")
    await expect(pending).to_contain_text(reason)
    await expect(pending).to_contain_text(PEOPLE["supervisor"].username)
    await expect(zhao.locator("h1 .badge")).to_have_text(before)  # nothing changes yet
    await shoot(zhao, "override-requested")

    # The requester's own approval: refused by the contractors service, in words.
    await expect(pending.locator("form.approve")).to_contain_text("须由另一位主管复核")
    await pending.get_by_role("button", name="复核通过").click()
    await expect(zhao.locator(".flash.error")).to_contain_text("四眼原则")
    await expect(zhao.locator("table.overrides .badge.override-state")).to_have_text("待复核")
    await shoot(zhao, "override-refused")

    qian = await signed_in(browser, city, "supervisor_2")
    await qian.goto(f"{city.base_url}/contractors/{firm_id}")
    row = qian.locator("table.overrides tbody tr")
    await expect(row.locator("form.approve .hint")).to_have_count(0)  # not qian's own request
    await row.get_by_role("button", name="复核通过").click()
    await expect(qian.locator(".flash.ok")).to_be_visible()
    await expect(row.locator(".badge.override-state")).to_have_text("生效中")
    await expect(row).to_contain_text(PEOPLE["supervisor_2"].username)
    await expect(qian.locator("h1 .badge")).to_have_text(target)
    await expect(qian.locator("#standing .reason")).to_have_text("经两人复核的人工设定")
    explanation = qian.locator("#standing small.hint")
    await expect(explanation).to_contain_text(reason)
    await expect(explanation).to_contain_text(PEOPLE["supervisor"].username)
    await expect(explanation).to_contain_text(PEOPLE["supervisor_2"].username)
    first_history = qian.locator("table.history tbody tr").first
    await expect(first_history.locator(".reason")).to_have_text("经两人复核的人工设定")
    await shoot(qian, "override-approved")

    # The ranking shows the new status at once.
    await qian.goto(f"{city.base_url}/contractors?region=430211")
    await expect(qian.locator(f"tr[data-contractor='{firm_id}'] .badge")).to_have_text(target)
