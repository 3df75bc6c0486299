"""Rendering: Jinja templates with the request's language, user and CSRF token in reach.

Autoescaping is on for every template; nothing the services return is ever marked safe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from services.web.context import CSRF_TOKEN, FLASH, TRANSLATOR, USER
from services.web.domain import formatting
from services.web.domain.access import Capability, may

TEMPLATES = Path(__file__).resolve().parent / "templates"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        money=formatting.money,
        local_time=formatting.local_time,
        local_date=formatting.local_date,
        Capability=Capability,
    )
    return env


ENV_KEY = web.AppKey("jinja", jinja2.Environment)


def render(
    request: web.Request, template: str, *, status: int = 200, **context: Any
) -> web.Response:
    user = request.get(USER)
    translate = request[TRANSLATOR]
    html = (
        request.app[ENV_KEY]
        .get_template(template)
        .render(
            t=translate,
            locale=translate.locale,
            user=user,
            may=lambda capability: user is not None and may(user.role, capability),
            csrf_token=request[CSRF_TOKEN],
            path=request.path_qs,
            flash=request.get(FLASH),
            static=lambda name: str(request.app.router["static"].url_for(filename=name)),
            **context,
        )
    )
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")
