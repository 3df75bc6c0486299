"""What every request goes through: headers, language, session, CSRF, error pages.

Order (outermost first): security headers → errors → language → session → CSRF. The CSRF
check is a double-submit cookie: a random token in an HttpOnly, SameSite=Strict cookie, echoed
in every form (hidden field ``csrf_token``) or fetch (header ``X-CSRF-Token``); a cross-site
form can neither read the cookie nor make the browser send it, so it cannot echo it. Unsafe
requests with an ``Origin`` of another site are refused before that.
"""

from __future__ import annotations

import hmac
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from urllib.parse import quote, unquote, urlsplit

import grpc
from aiohttp import web

from services.web.context import CSRF_TOKEN, FLASH, SESSION_TOKEN, TRANSLATOR, USER
from services.web.domain.i18n import Catalogues, negotiate
from services.web.pages import render
from services.web.usecases import WebUseCases
from shared.errors import details_of

log = logging.getLogger("web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SESSION_COOKIE = "elevins_session"
CSRF_COOKIE = "elevins_csrf"
LANG_COOKIE = "elevins_lang"
FLASH_COOKIE = "elevins_flash"
NO_SESSION_PATHS = ("/static/", "/healthz")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CATALOGUES = web.AppKey("catalogues", Catalogues)
USECASES = web.AppKey("usecases", WebUseCases)
COOKIE_SECURE = web.AppKey("cookie_secure", bool)
IMAGE_ORIGINS = web.AppKey("image_origins", str)


def set_cookie(
    request: web.Request, response: web.StreamResponse, name: str, value: str, **kw: object
) -> None:
    response.set_cookie(
        name,
        value,
        httponly=True,
        samesite="Strict",
        secure=request.app[COOKIE_SECURE],
        path="/",
        **kw,  # type: ignore[arg-type]
    )


def flash(request: web.Request, response: web.StreamResponse, kind: str, text: str) -> None:
    """A one-shot message shown on the next page (the result of a form, after its redirect)."""
    payload = quote(json.dumps({"kind": kind, "text": text}, ensure_ascii=False))
    set_cookie(request, response, FLASH_COOKIE, payload, max_age=60)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    began = time.perf_counter()
    response = await handler(request)
    # The server's own time for the page (the browser's devtools and `make bench` read it).
    response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - began) * 1000:.1f}"
    # Evidence images are presigned object-storage URLs (the S3 origin); uploads go there too.
    s3 = request.app[IMAGE_ORIGINS]
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; "
        f"img-src 'self' data: {s3}; connect-src 'self' {s3}; "
        "style-src 'self'; script-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if response.content_type == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response


_STATUS_OF = {
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 409,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 503,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 503,
    # The person's session is fine (checked here); the services refusing our token means the
    # signing keys disagree: an operator's problem, logged, not a reason to sign the user out.
    grpc.StatusCode.UNAUTHENTICATED: 503,
}
# Refusals of what a person asked for (bad input, not theirs to do, the claim moved on): a form
# shows them as a message on the page it came from (``views.claims.act``) rather than this page.
REFUSALS: frozenset[grpc.StatusCode] = frozenset(
    code for code, status in _STATUS_OF.items() if status in (400, 403, 409)
)


@web.middleware
async def error_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400 or TRANSLATOR not in request:
            raise
        return _error_page(
            request, exc.status, exc.text if exc.text and exc.text != exc.reason else ""
        )
    except grpc.aio.AioRpcError as error:
        status = _STATUS_OF.get(error.code())
        if status is None or error.code() == grpc.StatusCode.UNAUTHENTICATED:
            log.exception("upstream call failed")
        if status is None:
            return _error_page(request, 500, "")
        details = details_of(error)
        fields = {v.field: v.description for v in details.violations}
        return _error_page(
            request,
            status,
            details.message,
            reason=details.reason or error.code().name,
            fields=fields,
        )
    except Exception:
        # A bug: logged with its trace; the person gets a page that says so, not a stack.
        log.exception("request failed: %s %s", request.method, request.path)
        return web.Response(
            status=500,
            text=request[TRANSLATOR]("error.title.500") if TRANSLATOR in request else "500",
        )


def _error_page(
    request: web.Request,
    status: int,
    detail: str,
    *,
    reason: str = "",
    fields: dict[str, str] | None = None,
) -> web.Response:
    """The refusal as a page, or as JSON for the scripts that ask for it (upload.js): the
    service's reason code, its message and the fields it named."""
    if TRANSLATOR not in request:  # failed before the language was known
        return web.Response(status=status, text=str(status))
    if request.headers.get("Accept", "").startswith("application/json"):
        body = {"status": status, "reason": reason, "message": detail, "fields": fields or {}}
        return web.json_response(body, status=status)
    return render(request, "error.html", status=status, code=status, detail=detail)


@web.middleware
async def language(request: web.Request, handler: Handler) -> web.StreamResponse:
    locale = negotiate(request.cookies.get(LANG_COOKIE))
    request[TRANSLATOR] = request.app[CATALOGUES].translator(locale)
    return await handler(request)


@web.middleware
async def session(request: web.Request, handler: Handler) -> web.StreamResponse:
    # Assets and the health probe need no person: no database round trip for them.
    token = (
        None if request.path.startswith(NO_SESSION_PATHS) else request.cookies.get(SESSION_COOKIE)
    )
    request[SESSION_TOKEN] = token
    request[USER] = await request.app[USECASES].user_of(token) if token else None
    raw_flash = request.cookies.get(FLASH_COOKIE)
    if raw_flash:
        try:
            request[FLASH] = json.loads(unquote(raw_flash))
        except ValueError:
            request[FLASH] = None
    response = await handler(request)
    if raw_flash and request.method in SAFE_METHODS and response.status // 100 != 3:
        response.del_cookie(FLASH_COOKIE, path="/")
    return response


@web.middleware
async def csrf(request: web.Request, handler: Handler) -> web.StreamResponse:
    cookie = request.cookies.get(CSRF_COOKIE)
    token = cookie or secrets.token_urlsafe(32)
    request[CSRF_TOKEN] = token
    if request.method not in SAFE_METHODS:
        origin = request.headers.get("Origin")
        if origin and origin != "null" and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text=request[TRANSLATOR]("error.cross_site"))
        sent = request.headers.get("X-CSRF-Token")
        if sent is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            sent = str((await request.post()).get("csrf_token", ""))
        if not cookie or not sent or not hmac.compare_digest(cookie, sent):
            raise web.HTTPForbidden(text=request[TRANSLATOR]("error.csrf"))
    response = await handler(request)
    if not cookie:
        set_cookie(request, response, CSRF_COOKIE, token)
    return response
