"""``@requires(capability)``: signed in, and a role that may do this; else sign-in or 403."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable, Mapping
from urllib.parse import quote

from aiohttp import web

from services.web.clients import Caller, Upstreams
from services.web.context import TRANSLATOR, USER
from services.web.domain.access import Capability, may
from services.web.store import User

UPSTREAMS = web.AppKey("upstreams", Upstreams)

View = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(capability: Capability) -> Callable[[View], View]:
    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def guarded(request: web.Request) -> web.StreamResponse:
            user: User | None = request[USER]
            if user is None:
                if request.method == "GET":
                    raise web.HTTPSeeOther(f"/signin?next={quote(request.path_qs, safe='')}")
                raise web.HTTPUnauthorized(text=request[TRANSLATOR]("error.signed_out"))
            if not may(user.role, capability):
                raise web.HTTPForbidden(text=request[TRANSLATOR]("error.forbidden"))
            return await view(request)

        return guarded

    return decorate


def caller(request: web.Request) -> Caller:
    user = request[USER]
    if user is None:  # views that call this are behind @requires: a bug if it happens
        raise RuntimeError("caller() outside a signed-in view")
    return request.app[UPSTREAMS].caller(user)


def upstreams(request: web.Request) -> Upstreams:
    return request.app[UPSTREAMS]


def safe_next(target: str | None, default: str) -> str:
    """Only same-site paths after sign-in: never an open redirect to another host."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def request_id(form: Mapping[str, object]) -> str:
    """The request id the form was rendered with, so that a double click or a resent form is
    one idempotent call; a new one if the form carried none."""
    return str(form.get("request_id", "")) or uuid.uuid4().hex


def see_other(location: str) -> web.Response:
    """A 303 to ``location`` as a response (not raised), so cookies can be set on it."""
    return web.Response(status=303, headers={"Location": location})
