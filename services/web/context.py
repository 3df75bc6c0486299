"""What the middleware puts on each request, under typed keys the views and pages read."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.web.domain.i18n import Translator
from services.web.store import User

USER: web.RequestKey[User | None] = web.RequestKey("user")
TRANSLATOR: web.RequestKey[Translator] = web.RequestKey("translator")
CSRF_TOKEN: web.RequestKey[str] = web.RequestKey("csrf_token")
SESSION_TOKEN: web.RequestKey[str | None] = web.RequestKey("session_token")
FLASH: web.RequestKey[dict[str, Any] | None] = web.RequestKey("flash")
