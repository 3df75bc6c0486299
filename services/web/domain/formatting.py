"""How the UI writes money, times and durations for people in China.

Money is integer fen, shown as ``¥1,234.56``; times are stored in UTC and shown in
Asia/Shanghai (the one time zone of every city we serve), whatever the server's own zone is.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from shared.money import format_fen

SHANGHAI = ZoneInfo("Asia/Shanghai")
_AMOUNT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")

__all__ = ["SHANGHAI", "local_date", "local_time", "money", "remaining", "yuan_to_fen"]


def money(fen: int | None) -> str:
    return "—" if fen is None else format_fen(fen)


def local_time(at: datetime | None) -> str:
    """``2026-11-24 14:05`` in Shanghai time; an em dash for "not yet"."""
    if at is None:
        return "—"
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def local_date(at: datetime | None) -> str:
    return "—" if at is None else at.astimezone(SHANGHAI).strftime("%Y-%m-%d")


def remaining(due_at: datetime | None, now: datetime) -> tuple[int, int, int] | None:
    """(sign, hours, minutes) until ``due_at``: sign -1 when overdue; None without a deadline.

    Rounded towards the deadline (a clock with 59 s left shows 0 min, not 1) so the UI never
    promises more time than there is.
    """
    if due_at is None:
        return None
    delta = due_at - now.astimezone(UTC)
    sign = 1 if delta >= timedelta(0) else -1
    minutes = int(abs(delta).total_seconds() // 60)
    return sign, minutes // 60, minutes % 60


def yuan_to_fen(text: str) -> int:
    """An amount as people type it ("1,234.5", "¥80") → fen; ValueError for anything else:
    negative, more than two decimals, exponents, or more than a trillion yuan (no repair costs
    that, and the fen must fit the services' 64-bit fields)."""
    cleaned = text.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    if not _AMOUNT.fullmatch(cleaned):
        raise ValueError(text)
    return int(Decimal(cleaned) * 100)
