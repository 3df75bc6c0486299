"""Sign in, sign out, and the language switch."""

from __future__ import annotations

import logging

from aiohttp import web

from services.web.context import SESSION_TOKEN, TRANSLATOR, USER
from services.web.domain.access import home_path
from services.web.domain.i18n import LOCALES
from services.web.middleware import (
    LANG_COOKIE,
    SESSION_COOKIE,
    USECASES,
    set_cookie,
)
from services.web.pages import render
from services.web.usecases import SESSION_TTL, SignInRefused
from services.web.views.guard import safe_next, see_other

log = logging.getLogger("web")
routes = web.RouteTableDef()


@routes.get("/")
async def root(request: web.Request) -> web.StreamResponse:
    user = request[USER]
    raise web.HTTPSeeOther(home_path(user.role) if user else "/signin")


@routes.get("/signin")
async def signin_form(request: web.Request) -> web.StreamResponse:
    return render(request, "signin.html", next=request.query.get("next", ""), error="")


@routes.post("/signin")
async def signin(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    username = str(form.get("username", ""))
    password = str(form.get("password", ""))
    target = str(form.get("next", ""))
    try:
        session = await request.app[USECASES].sign_in(username, password)
    except SignInRefused:
        # The user name is personal data: never logged in full.
        log.info("sign-in refused for %s***", username[:2])
        return render(
            request,
            "signin.html",
            status=401,
            next=target,
            error=request[TRANSLATOR]("signin.refused"),
        )
    response = see_other(safe_next(target, home_path(session.user.role)))
    set_cookie(
        request,
        response,
        SESSION_COOKIE,
        session.token,
        max_age=int(SESSION_TTL.total_seconds()),
    )
    return response


@routes.post("/signout")
async def signout(request: web.Request) -> web.StreamResponse:
    token = request[SESSION_TOKEN]
    if token:
        await request.app[USECASES].sign_out(token)
    response = see_other("/signin")
    response.del_cookie(SESSION_COOKIE, path="/")
    return response


@routes.get("/lang/{locale}")
async def switch_language(request: web.Request) -> web.StreamResponse:
    locale = request.match_info["locale"]
    if locale not in LOCALES:
        raise web.HTTPNotFound
    response = see_other(safe_next(request.query.get("next"), "/"))
    set_cookie(request, response, LANG_COOKIE, locale, max_age=365 * 24 * 3600)
    return response


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.StreamResponse:
    return web.Response(text="ok")
