"""The acceptance walk through the UI in a real browser (Debian's chromium, headless).

The tests share one city and run in file order, each a step of one claim's life: the adjuster
approves the riskiest claim in part, a senior reviewer gives the second approval, the
contractor uploads the after photo from a phone and marks the repair done. Around that walk:
what nobody may do (approve alone, open another company's job, post without a CSRF token),
and the keyboard and labels every form needs.
"""

from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.e2e.web.conftest import shoot, signed_in
from tests.e2e.web.stack import PASSWORD, PEOPLE

pytestmark = pytest.mark.integration


async def _state(page: Page) -> str:
    return (await page.locator("h1 .badge.state").inner_text()).strip()


async def test_a_form_posted_without_a_csrf_token_is_refused(browser, city) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{city.base_url}/signin")  # the CSRF cookie is set, but not echoed below
    reply = await page.request.post(
        f"{city.base_url}/signin",
        form={"username": PEOPLE["adjuster"].username, "password": PASSWORD},
        max_redirects=0,
    )
    assert reply.status == 403
    assert "CSRF" in await reply.text()
    # And with the token but from another site: refused by its Origin before anything else.
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    forged = await page.request.post(
        f"{city.base_url}/signin",
        form={"username": "x", "password": "y", "csrf_token": token or ""},
        headers={"Origin": "http://evil.example"},
        max_redirects=0,
    )
    assert forged.status == 403
    await context.close()


async def test_the_adjuster_approves_the_riskiest_claim_in_part(browser, city) -> None:
    page = await signed_in(browser, city, "adjuster")
    assert page.url.endswith("/queue")
    await expect(page.locator("h1")).to_have_text("待办队列")
    await shoot(page, "queue")
    first = page.locator("table.queue tbody tr").first
    assert city.claim_a in (await first.locator("a").get_attribute("href") or "")
    # The row says why it is risky: the padding flag in words, and the quoted amount.
    await expect(first).to_contain_text("单价高于市场参考价")
    await expect(first.locator("td.num")).to_contain_text("¥70,000.00")
    # Filtered by that flag, only the padded claim is left.
    await page.get_by_label("风险标记").select_option("PRICE_ABOVE_REFERENCE")
    await page.get_by_role("button", name="筛选").click()
    await expect(page.locator("table.queue tbody tr")).to_have_count(1)
    await page.get_by_label("风险标记").select_option("")
    await page.get_by_role("button", name="筛选").click()
    await first.locator("a").click()
    await page.wait_for_url(f"**/claims/{city.claim_a}")
    # The flags the pipeline raised, in words, and the trimmed line against its reference.
    flags = page.locator("#h-flags + ul .badge.flag")
    assert await flags.count() >= 1
    trimmed = page.locator("table.lines tr.trimmed").first
    await expect(trimmed).to_be_visible()
    # The part pricing matched, its reference price, and the reason in words.
    await expect(trimmed.locator("td").nth(1)).to_contain_text("曳引机")
    await expect(trimmed.locator("td").nth(4)).to_contain_text("¥")
    await expect(trimmed).to_contain_text("单价高于市场参考价")
    await shoot(page, "claim-under-review")

    await page.get_by_label("部分核准（按上表各项核定金额）").check()
    first_line = page.get_by_label("第 1 项核定金额（元）")
    await first_line.fill("33000.00")
    await page.get_by_label("单价高于市场参考价，按参考价核定").check()
    await page.get_by_label("备注").fill("曳引机按参考价核定")
    await page.get_by_role("button", name="提交决定").click()
    await page.wait_for_url(f"**/claims/{city.claim_a}")
    await expect(page.locator(".flash.ok")).to_be_visible()
    assert await _state(page) == "待复核"
    await expect(page.locator(".decision-made").first).to_contain_text("王调查"[:0] or "wang.adj")
    await page.context.close()


async def test_the_adjuster_cannot_approve_their_claim_a_second_time(browser, city) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    assert await page.locator("form#decision").count() == 0  # nothing left to decide here
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    # Posting the second approval by hand: an adjuster may never give it.
    second = await page.request.post(
        f"{city.base_url}/claims/{city.claim_a}/second-review",
        form={"csrf_token": token or "", "verdict": "approve", "request_id": "again-1"},
        max_redirects=0,
    )
    assert second.status == 403
    # Deciding again: the claim has moved on, the claims service refuses, the page says why.
    again = await page.request.post(
        f"{city.base_url}/claims/{city.claim_a}/decision",
        form={"csrf_token": token or "", "kind": "approve", "request_id": "again-2"},
        max_redirects=0,
    )
    assert again.status == 303
    await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    await expect(page.locator(".flash.error")).to_contain_text("状态")
    assert await _state(page) == "待复核"
    await page.context.close()


async def test_a_supervisor_cannot_give_both_approvals(browser, city) -> None:
    page = await signed_in(browser, city, "supervisor")
    await page.goto(f"{city.base_url}/claims/{city.claim_b}")
    await page.get_by_label("核准", exact=True).check()
    await page.get_by_role("button", name="提交决定").click()
    await page.wait_for_url(f"**/claims/{city.claim_b}")
    assert await _state(page) == "待复核"
    # The same person now offered the second review: the four-eyes rule refuses it.
    await page.get_by_label("同意初审决定").check()
    await page.get_by_role("button", name="提交复核").click()
    await page.wait_for_url(f"**/claims/{city.claim_b}")
    await expect(page.locator(".flash.error")).to_contain_text("四眼")
    assert await _state(page) == "待复核"
    await page.context.close()


async def test_a_senior_reviewer_gives_the_second_approval(browser, city) -> None:
    page = await signed_in(browser, city, "senior")
    await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    await shoot(page, "claim-second-review")
    await page.get_by_label("同意初审决定").check()
    await page.get_by_role("button", name="提交复核").click()
    await page.wait_for_url(f"**/claims/{city.claim_a}")
    assert await _state(page) == "部分核准"
    await page.context.close()


def _after_photo() -> bytes:
    picture = Image.new("RGB", (1200, 900), (90, 120, 150))
    for x in range(0, 1200, 40):
        for y in range(0, 900, 60):
            picture.putpixel((x, y), (255, 255, 255))
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


async def test_the_contractor_uploads_a_photo_and_sees_the_claim_move_on(browser, city) -> None:
    page = await signed_in(browser, city, "contractor_a", phone=True)
    assert page.url.endswith("/jobs")
    await shoot(page, "phone-jobs")
    await page.locator(f"a[href='/jobs/{city.claim_a}']").click()
    await page.wait_for_url(f"**/jobs/{city.claim_a}")
    await expect(page.locator(".decision-made")).to_contain_text("单价高于市场参考价")
    await page.get_by_label("类别").select_option("after_photo")
    await page.get_by_label("选择文件或拍照").set_input_files(
        {"name": "修复后.jpg", "mimeType": "image/jpeg", "buffer": _after_photo()}
    )
    await page.get_by_role("button", name="上传", exact=True).click()
    done = page.locator("#upload-list li.done")
    await expect(done).to_have_count(1, timeout=30_000)
    await expect(done.locator("progress")).to_have_attribute("value", "100")
    await shoot(page, "phone-job-uploaded")
    await page.get_by_role("button", name="维修完成").click()
    await page.wait_for_url(f"**/jobs/{city.claim_a}")
    assert await _state(page) == "已修复"
    await expect(page.locator(".beforeafter figure").nth(1).locator("img")).to_have_count(1)
    await page.context.close()


async def test_a_contractor_cannot_open_another_contractors_claim(browser, city) -> None:
    page = await signed_in(browser, city, "contractor_a", phone=True)
    other = await page.goto(f"{city.base_url}/jobs/{city.claim_b}")
    assert other is not None and other.status in (403, 404)
    # The refusal page, and nothing of the claim: no registration code, no description.
    assert await page.locator("h1").inner_text() in ("无权访问", "找不到该页面或记录")
    assert await page.locator(".description").count() == 0
    adjusters_page = await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    assert adjusters_page is not None and adjusters_page.status == 403
    photo = await page.goto(f"{city.base_url}/jobs/{city.claim_b}/evidence/x/display")
    assert photo is not None and photo.status in (403, 404)
    await page.context.close()


async def test_an_adjuster_outside_the_region_cannot_read_the_claim(browser, city) -> None:
    page = await signed_in(browser, city, "outsider")
    reply = await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    assert reply is not None and reply.status == 403
    await page.goto(f"{city.base_url}/queue")
    assert await page.locator("table.queue tbody a").count() == 0
    await page.context.close()


LABELLED = """() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML)"""


async def test_every_form_field_is_labelled_and_sign_in_works_by_keyboard(browser, city) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{city.base_url}/signin")
    assert await page.evaluate(LABELLED) == []
    await shoot(page, "signin")
    # Keyboard only: the user name field has focus, Tab to the password, Enter submits.
    await page.keyboard.type(PEOPLE["adjuster"].username)
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    await page.wait_for_url(re.compile(r".*/queue$"))
    for path in ("/queue", f"/claims/{city.claim_a}", f"/claims/{city.claim_b}"):
        await page.goto(f"{city.base_url}{path}")
        assert await page.evaluate(LABELLED) == [], path
    # The skip link is the first stop of the Tab key and lands on the main content.
    await page.keyboard.press("Tab")
    assert await page.evaluate("document.activeElement.className") == "skip"
    await context.close()
    phone = await signed_in(browser, city, "contractor_a", phone=True)
    await phone.goto(f"{city.base_url}/jobs/{city.claim_a}")
    assert await phone.evaluate(LABELLED) == []
    await phone.context.close()


async def test_english_is_one_click_away(browser, city) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.get_by_role("link", name="English").click()
    await expect(page.locator("h1")).to_have_text("Work queue")
    await page.goto(f"{city.base_url}/claims/{city.claim_a}")
    await expect(page.locator("h1 .badge.state")).to_have_text("Repaired")
    await expect(page.locator("table.lines tfoot")).to_contain_text("¥")
    await shoot(page, "claim-english")
    await page.context.close()


async def test_the_dashboard_shows_the_promised_figures_as_charts(browser, city) -> None:
    page = await signed_in(browser, city, "adjuster")
    await page.get_by_role("link", name="运营看板").click()
    await expect(page.locator("h1")).to_have_text("运营看板")
    # Both claims of the city were reported in the window; the arrival clock of each was met.
    await expect(page.locator(".hint").first).to_contain_text("2 件案件")
    await expect(page.locator("#h-arrival + p")).to_contain_text("30 分钟内到场")
    assert await page.locator("svg#hist-arrival rect.bar").count() >= 1
    assert await page.locator("svg#by-state rect.bar").count() >= 1
    assert await page.locator("svg.trend circle.dot").count() == 12  # one a month
    await shoot(page, "dashboard")
    await page.context.close()
