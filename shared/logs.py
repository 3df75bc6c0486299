"""JSON logs for every service, with personal data masked.

One JSON object per line on stderr: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``msg``,
``service``, ``trace_id``/``span_id`` of the active OpenTelemetry span (so a log line leads to
its trace), the ``extra=`` fields, and ``exc`` for exceptions. Use the stdlib logger as usual::

    log = logging.getLogger(__name__)
    log.info("claim %s approved", claim_id, extra={"owner_name": "张三", "amount_fen": 1200000})

Masking is applied to the message, to the exception text and to every extra field, and works
in two ways:

* **By key.** A field whose key names personal data is masked whatever its value looks like:
  person names (``owner_name``, ``name``…) keep the surname, ``张三`` → ``张*``, ``欧阳娜娜`` →
  ``欧阳**``; phones, ID numbers and card numbers keep a few digits; credentials (``password``,
  ``token``, ``secret``, ``authorization``, ``cookie``…) are replaced whole by ``***``. Keys are
  matched in snake_case or camelCase, in nested dicts, lists and dataclasses too.
* **By shape**, in every string: mobile numbers ``138****5678``, landlines ``0731-****4455``,
  resident ID numbers (18 characters with a valid ISO 7064 MOD 11-2 check digit and a plausible
  birth date: only the last 4 are kept — the region and birth date are quasi-identifiers and the
  last 4 suffice to tell records apart), bank card numbers (16–19 digits passing the Luhn check:
  the first 6, which name the bank, and the last 4 are kept, as PCI DSS allows), e-mail
  addresses ``z***@example.com``, passwords in URLs and ``Bearer`` tokens.

Numbers are only ever looked at as *whole* runs of digits, so the 20-digit equipment code of an
elevator (设备代码, e.g. ``31104403002018090001``) is never taken for an ID or a card, nor an
11-digit piece of it for a phone. A person's name inside free text cannot be recognised: put
names in fields with a personal key, never in the message.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from typing import Any, TextIO

from opentelemetry import trace

__all__ = [
    "JsonFormatter",
    "configure_logging",
    "is_resident_id",
    "luhn_valid",
    "mask_name",
    "mask_text",
    "mask_value",
]

REDACTED = "***"

# --- by shape ------------------------------------------------------------------------------

# Numbers count only as whole tokens: not preceded or followed by an ASCII letter or digit.
# (Not \b or \w: in Python those treat Chinese characters as word characters, and a phone
# number straight after "电话" would be missed.)
_NOT_ALNUM_BEFORE = r"(?<![0-9A-Za-z])"
_NOT_ALNUM_AFTER = r"(?![0-9A-Za-z])"
# A card number in fours ("6222 0212 3456 7890") must not be a slice of a longer run of fours,
# such as an equipment code written that way.
_NOT_FOURS_BEFORE = r"(?<![0-9A-Za-z])(?<!\d{4}[ -])"
_NOT_FOURS_AFTER = r"(?![0-9A-Za-z]|[ -]\d{4}(?!\d))"
# The last group of a UUID can be twelve decimal digits: it is not a phone number.
_NOT_UUID_TAIL = r"(?<![0-9A-Fa-f]{4}-)"

_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^@\s]+@")
# Case-insensitive "bearer" needs a long token, lest "bearer of bad news" lose a word.
_BEARER = re.compile(r"\b((?i:bearer)\s+|Basic\s+)(?:[A-Za-z0-9._~+/-]{16,}|[A-Za-z0-9+/]{8,}=*)")
# password=..., "token": "...", db_password: ... (the name may have a prefix).
_SECRET_ASSIGNMENT = re.compile(
    r"(?i)((?:password|passwd|pwd|secret|token|api_?key|access_?key|auth_?key|authorization)"
    r"""["']?\s*[:=]\s*["']?)[^\s"'&,;]+"""
)
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_GROUPED_CARD = re.compile(
    _NOT_FOURS_BEFORE + r"\d{4}(?:[ -]\d{4}){3}(?:[ -]\d{1,3})?" + _NOT_FOURS_AFTER
)
_GROUPED_MOBILE = re.compile(
    _NOT_ALNUM_BEFORE + r"(\+?86[ -]?)?(1[3-9]\d)[ -](\d{4})[ -](\d{4})" + _NOT_ALNUM_AFTER
)
_GROUPED_LANDLINE = re.compile(
    _NOT_ALNUM_BEFORE + r"(\(0\d{2,3}\)\s?|0\d{2,3}[ -])(\d{3,4})(\d{4})" + _NOT_ALNUM_AFTER
)
_DIGIT_RUN = re.compile(_NOT_ALNUM_BEFORE + _NOT_UUID_TAIL + r"\d{10,19}[Xx]?" + _NOT_ALNUM_AFTER)
_MOBILE = re.compile(r"(86)?(1[3-9]\d)\d{4}(\d{4})")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK_CHARS = "10X98765432"


def is_resident_id(text: str) -> bool:
    """An 18-character resident ID number (GB 11643): check digit and birth date both valid.

    The check digit alone would accept one random 18-digit number in 11; the birth date
    (positions 7–14, a real day from 1900 on) rules out nearly all the rest, e.g. equipment
    codes, whose digits there are a region code.
    """
    if len(text) != 18 or not text[:17].isdigit():
        return False
    check = sum(int(c) * w for c, w in zip(text[:17], _ID_WEIGHTS, strict=True)) % 11
    if text[17].upper() != _ID_CHECK_CHARS[check]:
        return False
    year, month, day = int(text[6:10]), int(text[10:12]), int(text[12:14])
    if not 1900 <= year <= 2099:
        return False
    try:
        date(year, month, day)
    except ValueError:
        return False
    return True


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check that bank card numbers carry."""
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def _keep(text: str, first: int, last: int) -> str:
    """``text`` with all but the first and last few characters starred."""
    hidden = len(text) - first - last
    if hidden <= 0:
        return REDACTED
    return text[:first] + "*" * hidden + (text[-last:] if last else "")


def _mask_digit_run(match: re.Match[str]) -> str:
    run = match.group()
    mobile = _MOBILE.fullmatch(run)
    if mobile:
        return f"{mobile.group(1) or ''}{mobile.group(2)}****{mobile.group(3)}"
    if is_resident_id(run):
        return _keep(run, 0, 4)
    if 16 <= len(run) <= 19 and luhn_valid(run):
        return _keep(run, 6, 4)
    if len(run) in (11, 12) and run[0] == "0" and run[1] != "0":
        return _keep(run, 3, 4)  # a landline with its area code, no separator
    return run  # anything else (equipment codes, amounts, timestamps) is left alone


def _mask_grouped_card(match: re.Match[str]) -> str:
    text = match.group()
    digits = re.sub(r"\D", "", text)
    if not luhn_valid(digits):
        return text
    kept = 0
    out = []
    for ch in text:  # keep the first 6 and last 4 digits, and the grouping
        if ch.isdigit():
            kept += 1
            out.append(ch if kept <= 6 or kept > len(digits) - 4 else "*")
        else:
            out.append(ch)
    return "".join(out)


def mask_text(text: str) -> str:
    """``text`` with every recognisable piece of personal data or credential masked."""
    text = _URL_PASSWORD.sub(r"\1***@", text)
    text = _BEARER.sub(r"\1***", text)
    text = _SECRET_ASSIGNMENT.sub(r"\1***", text)
    text = _EMAIL.sub(r"\1***@\2", text)
    text = _GROUPED_CARD.sub(_mask_grouped_card, text)
    text = _GROUPED_MOBILE.sub(lambda m: f"{m.group(1) or ''}{m.group(2)}****{m.group(4)}", text)
    text = _GROUPED_LANDLINE.sub(lambda m: f"{m.group(1)}{'*' * len(m.group(2))}{m.group(3)}", text)
    return _DIGIT_RUN.sub(_mask_digit_run, text)


# --- by key ------------------------------------------------------------------------------------

# Double surnames that the surname-keeping mask must keep whole ("欧阳**", not "欧***").
_COMPOUND_SURNAMES = frozenset(
    [
        "欧阳",
        "司马",
        "上官",
        "诸葛",
        "东方",
        "皇甫",
        "尉迟",
        "公孙",
        "慕容",
        "长孙",
        "宇文",
        "司徒",
        "夏侯",
        "轩辕",
        "令狐",
        "钟离",
        "闾丘",
        "端木",
        "独孤",
        "南宫",
        "西门",
        "百里",
        "呼延",
        "澹台",
        "公冶",
        "太史",
        "申屠",
        "赫连",
        "万俟",
        "司空",
        "濮阳",
        "淳于",
        "单于",
        "拓跋",
        "东郭",
        "左丘",
        "第五",
        "梁丘",
        "羊舌",
        "微生",
        "谷梁",
        "宰父",
        "乐正",
        "漆雕",
        "壤驷",
        "公西",
        "巫马",
        "仲孙",
    ]
)


def mask_name(name: str) -> str:
    """A person's name with only the surname kept: 张三 → 张*, 欧阳娜娜 → 欧阳**, Li Lei → L***."""
    name = name.strip()
    if not name:
        return name
    if not _is_cjk(name[0]):
        return name[0] + REDACTED
    surname = name[:2] if len(name) > 2 and name[:2] in _COMPOUND_SURNAMES else name[:1]
    if len(name) == len(surname):
        return "*"
    return surname + "*" * (len(name) - len(surname))


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


def _words(*words: str) -> re.Pattern[str]:
    """Matches a snake_case key containing one of ``words`` as whole words (plural too)."""
    return re.compile(rf"(?:^|_)(?:{'|'.join(words)})s?(?:_|$)")


# Matched against the key in snake_case ("ownerPhone" and "owner-phone" become "owner_phone"),
# as whole words, so that "paid_notice" is not taken for an "id_no".
_CREDENTIAL_KEY = _words(
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "authorization",
    "auth_key",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "cookie",
    "credential",
    "signature",
)
# Only keys that hold a *person's* name: part_name, community_name, rule_name stay readable.
_NAME_KEY = re.compile(
    r"^names?$|(?:^|_)(?:(?:owner|real|full|person|contact|customer|insured|applicant|beneficiary"
    r"|payee|holder|account|resident|adjuster|reviewer|technician|display)_name|account_holder)s?$"
)
_PHONE_KEY = _words("phone", "mobile", "tel", "telephone", "landline", "fax", "contact_number")
_ID_KEY = _words("id_number", "id_card", "idcard", "id_no", "identity", "resident_id", "citizen_id")
_CARD_KEY = _words(
    "card_no", "card_number", "bank_card", "bank_account", "account_no", "account_number"
)
_EMAIL_KEY = _words("email", "e_mail")

_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _normal_key(key: str) -> str:
    return _CAMEL_BOUNDARY.sub("_", key).lower().replace("-", "_")


def _is_credential_key(key: str) -> bool:
    return _CREDENTIAL_KEY.search(_normal_key(key)) is not None


def _key_masker(key: str) -> Callable[[str], str] | None:
    """How to mask a scalar value by its key (None: by shape only)."""
    k = _normal_key(key)
    if _NAME_KEY.search(k):
        return mask_name
    if _PHONE_KEY.search(k):
        return lambda v: _or_keep(v, 3, 4)
    if _ID_KEY.search(k):
        return lambda v: _or_keep(v, 0, 4)
    if _CARD_KEY.search(k):
        return lambda v: _or_keep(v, 6, 4)
    if _EMAIL_KEY.search(k):
        return lambda v: _or_keep(v, 1, 0)
    return None


def _or_keep(value: str, first: int, last: int) -> str:
    """Mask by shape; if the shape was not recognised, by position (the key says it is personal)."""
    masked = mask_text(value)
    return masked if masked != value else _keep(value.strip(), first, last)


def mask_value(key: str | None, value: object) -> Any:
    """``value`` made JSON-ready with personal data masked; ``key`` is the field it came from.

    Containers are walked (a list under a personal key has each item masked); dataclasses are
    walked by their field names; other objects are logged by ``str()``, masked by shape.
    """
    if value is None:
        return None
    if key is not None and _is_credential_key(key):
        return REDACTED  # whatever its shape, a dict of credentials included
    if isinstance(value, Mapping):
        return {str(k): mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_value(key, v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        return mask_value(key, fields)
    masker = _key_masker(key) if key is not None else None
    if masker is not None:
        return masker(_plain(value))
    if isinstance(value, bool | int) or (isinstance(value, float) and math.isfinite(value)):
        return value
    return mask_text(_plain(value))


def _plain(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"  # never dump binary (or a key) into a log line
    return str(value)  # Decimal, UUID, Path… and Secret, which shows "***"


# --- the formatter -------------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)
_CORE_KEYS = ("ts", "level", "logger", "msg", "service", "trace_id", "span_id", "exc", "stack")


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON, masked (see the module docstring)."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "msg": mask_text(record.getMessage()),
            "service": self.service,
        }
        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            out["trace_id"] = format(context.trace_id, "032x")
            out["span_id"] = format(context.span_id, "016x")
        for key, value in record.__dict__.items():
            if key in _RECORD_ATTRS or key.startswith("_"):
                continue
            # An extra named like a core field must not overwrite it (a forged "level").
            out[f"{key}_" if key in _CORE_KEYS else key] = mask_value(key, value)
        if record.exc_info:
            out["exc"] = mask_text(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = mask_text(self.formatStack(record.stack_info))
        return json.dumps(out, ensure_ascii=False, default=str)


_HANDLER_MARK = "_elevins_json_handler"


def configure_logging(service: str, level: str = "INFO", stream: TextIO | None = None) -> None:
    """Send every logger's records to ``stream`` (default: stderr at call time) as JSON lines.

    Replaces a handler that an earlier call installed, and leaves others alone (pytest's
    capture handler, for one). Python warnings are logged too.
    """
    numeric = logging.getLevelNamesMapping().get(level.upper())
    if numeric is None:
        raise ValueError(f"unknown log level {level!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    setattr(handler, _HANDLER_MARK, True)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.captureWarnings(True)
