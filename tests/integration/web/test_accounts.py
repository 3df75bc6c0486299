"""Signing in and out against the real PostgreSQL: lockout, sessions, cookies, CSRF.

The web app runs in-process on a loopback port; these tests need no other service, since
signing in touches only the web schema. (The browser tests in tests/e2e/web walk the pages.)
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from services.web.domain.access import Role
from services.web.domain.lockout import LOCK_FOR, MAX_FAILURES
from services.web.store import User
from shared.clock import ManualClock
from tests.e2e.process import free_port

pytestmark = pytest.mark.integration

PASSWORD = "a long enough passphrase"
ADJUSTER = User("lock.test", "锁定测试", Role.ADJUSTER, ("4302",), None)
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture(scope="module")
async def web(service_environ) -> AsyncIterator[tuple[str, ManualClock]]:
    from services.web.__main__ import MIGRATIONS
    from services.web.middleware import USECASES
    from services.web.server import SCHEMA, build_app
    from services.web.settings import WebSettings
    from shared.migrations import upgrade

    nowhere = f"127.0.0.1:{free_port()}"  # no service answers: sign-in needs none
    settings = WebSettings.from_env(
        {
            **service_environ,
            **{f"{s}_ADDR": nowhere for s in ("CLAIMS", "EVIDENCE", "CONTRACTORS", "POLICY")},
        }
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    clock = ManualClock()
    app = build_app(settings, clock=clock)
    await app[USECASES].put_user(ADJUSTER, PASSWORD)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), clock
    await server.close()


class Browser:
    """Just enough of a browser: keeps cookies by name, reads the CSRF token off forms."""

    def __init__(self, base: str, session: aiohttp.ClientSession) -> None:
        self.base = base
        self.session = session
        self.cookies: dict[str, str] = {}
        self.set_cookie_headers: list[str] = []

    def _keep(self, response: aiohttp.ClientResponse) -> None:
        for header in response.headers.getall("Set-Cookie", []):
            self.set_cookie_headers.append(header)
            jar = SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                if morsel["max-age"] == "0" or morsel.value == "":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def get(self, path: str) -> tuple[int, str, str]:
        async with self.session.get(
            self.base + path, cookies=self.cookies, allow_redirects=False
        ) as r:
            self._keep(r)
            return r.status, await r.text(), r.headers.get("Location", "")

    async def post(self, path: str, data: dict[str, str], **kw) -> tuple[int, str, str]:
        async with self.session.post(
            self.base + path, data=data, cookies=self.cookies, allow_redirects=False, **kw
        ) as r:
            self._keep(r)
            return r.status, await r.text(), r.headers.get("Location", "")

    async def csrf(self) -> str:
        _, page, _ = await self.get("/signin")
        found = CSRF_FIELD.search(page)
        assert found
        return found.group(1)

    async def sign_in(self, password: str, username: str = ADJUSTER.username) -> int:
        token = await self.csrf()
        status, _, _ = await self.post(
            "/signin", {"username": username, "password": password, "csrf_token": token}
        )
        return status


@pytest.fixture
async def browser(web) -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as session:
        yield Browser(web[0], session)


async def test_sign_in_sets_a_locked_down_session_cookie_and_sign_out_ends_it(browser) -> None:
    assert await browser.sign_in(PASSWORD) == 303
    session_header = next(h for h in browser.set_cookie_headers if "elevins_session=" in h)
    for attribute in ("HttpOnly", "Secure", "SameSite=Strict", "Path=/"):
        assert attribute.lower() in session_header.lower()
    status, page, _ = await browser.get("/queue")
    # The queue needs the claims service, which this test does not run: the page says that
    # a service is unavailable — but it got past sign-in, which is what is tested here.
    assert status == 503 and "后台服务暂不可用" in page
    token = browser.cookies["elevins_csrf"]
    status, _, location = await browser.post("/signout", {"csrf_token": token})
    assert (status, location) == (303, "/signin")
    status, _, location = await browser.get("/queue")
    assert status == 303 and location.startswith("/signin")


async def test_a_stolen_cookie_is_useless_after_sign_out(browser, web) -> None:
    assert await browser.sign_in(PASSWORD) == 303
    stolen = browser.cookies["elevins_session"]
    await browser.post("/signout", {"csrf_token": browser.cookies["elevins_csrf"]})
    async with (
        aiohttp.ClientSession() as other,
        other.get(
            web[0] + "/queue", cookies={"elevins_session": stolen}, allow_redirects=False
        ) as r,
    ):
        assert r.status == 303


async def test_repeated_failures_lock_the_account_until_the_lock_runs_out(browser, web) -> None:
    clock = web[1]
    for _ in range(MAX_FAILURES):
        assert await browser.sign_in("wrong password, again") == 401
    # Locked: even the right password is refused, with the same words as a wrong one.
    assert await browser.sign_in(PASSWORD) == 401
    clock.advance(LOCK_FOR + timedelta(seconds=1))
    assert await browser.sign_in(PASSWORD) == 303


async def test_unknown_users_and_wrong_passwords_read_the_same(browser) -> None:
    token = await browser.csrf()
    _, unknown, _ = await browser.post(
        "/signin", {"username": "nobody.here", "password": PASSWORD, "csrf_token": token}
    )
    _, wrong, _ = await browser.post(
        "/signin",
        {"username": ADJUSTER.username, "password": "nope nope nope", "csrf_token": token},
    )

    def message(page: str) -> str:
        found = re.search(r'<p class="flash error" role="alert">([^<]+)</p>', page)
        assert found
        return found.group(1)

    assert message(unknown) == message(wrong)
    # And the wrong password counted, so clean up the count for the other tests.
    assert await browser.sign_in(PASSWORD) == 303


async def test_posts_without_the_csrf_token_or_from_another_site_are_refused(browser) -> None:
    token = await browser.csrf()
    data = {"username": ADJUSTER.username, "password": PASSWORD}
    assert (await browser.post("/signin", data))[0] == 403
    assert (await browser.post("/signin", {**data, "csrf_token": "forged"}))[0] == 403
    cross_site = await browser.post(
        "/signin", {**data, "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross_site[0] == 403
    assert (await browser.post("/signin", {**data, "csrf_token": token}))[0] == 303


async def test_pages_carry_a_strict_content_security_policy(browser) -> None:
    async with browser.session.get(browser.base + "/signin") as r:
        policy = r.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_after_sign_in_the_browser_goes_back_where_it_was_but_never_off_site(
    browser,
) -> None:
    status, _, location = await browser.get("/claims/clm_x?tab=evidence")
    where = urlsplit(location)
    assert status == 303 and where.path == "/signin"
    assert parse_qs(where.query)["next"] == ["/claims/clm_x?tab=evidence"]
    token = await browser.csrf()
    for target, expected in (("/claims/clm_x", "/claims/clm_x"), ("//evil.example", "/queue")):
        status, _, location = await browser.post(
            "/signin",
            {
                "username": ADJUSTER.username,
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert (status, location) == (303, expected)
