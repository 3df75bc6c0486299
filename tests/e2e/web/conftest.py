"""Browser fixtures: the city (module-scoped, on a database of its own) and Debian's chromium
driven by Playwright, headless. `make test` installs chromium when it is missing (`make browser`);
a machine without it fails these tests loudly rather than skipping them."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from tests.databases import fresh_database
from tests.e2e.web.stack import PASSWORD, PEOPLE, City, start_city, stop_city

ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = ROOT / "build" / "screenshots"  # git-ignored; look at them after a run
PHONE = {"width": 390, "height": 844}
DESK = {"width": 1366, "height": 900}


@pytest.fixture(scope="module")
async def city(stack, service_environ) -> AsyncIterator[City]:
    async with fresh_database(stack.database_url, "web") as url:
        town = await start_city({**service_environ, "DATABASE_URL": url})
        try:
            yield town
        finally:
            stop_city(town)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = shutil.which("chromium")
    assert executable, "chromium is not installed: run `make browser` (make test does)"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=executable,
            headless=True,
            args=["--no-sandbox", "--disable-background-networking"],
        )
        yield launched
        await launched.close()


async def signed_in(browser: Browser, city: City, who: str, *, phone: bool = False) -> Page:
    """A fresh browser context (its own cookies) with ``who`` signed in through the form."""
    context = await browser.new_context(
        viewport=PHONE if phone else DESK, is_mobile=phone, has_touch=phone
    )
    page = await context.new_page()
    await page.goto(f"{city.base_url}/signin")
    await page.get_by_label("用户名").fill(PEOPLE[who].username)
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    await page.wait_for_load_state()
    return page


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
