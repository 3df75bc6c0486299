"""Message catalogues: every word the UI shows comes from ``locales/<locale>.toml``.

Simplified Chinese is the default (the people who use the UI are Chinese adjusters and
contractors); English is switchable. A catalogue is a flat TOML table of dotted keys to
``str.format`` templates. A key missing from a catalogue falls back to the default locale and
then to the key itself, so a missing translation shows up as a readable code rather than an
error page; `tests/unit/web` checks that every catalogue has every key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LOCALE = "zh-CN"
LOCALES = ("zh-CN", "en")
CATALOGUE_DIR = Path(__file__).resolve().parent.parent / "locales"


def _flatten(table: Mapping[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def load_catalogue(locale: str, directory: Path = CATALOGUE_DIR) -> dict[str, str]:
    with (directory / f"{locale}.toml").open("rb") as f:
        return _flatten(tomllib.load(f))


@dataclass(frozen=True)
class Translator:
    locale: str
    messages: Mapping[str, str]
    fallback: Mapping[str, str]

    def __call__(self, key: str, /, **values: object) -> str:
        template = self.messages.get(key) or self.fallback.get(key)
        if template is None:
            return key
        return template.format(**values) if values else template

    def has(self, key: str) -> bool:
        return key in self.messages or key in self.fallback


class Catalogues:
    def __init__(self, directory: Path = CATALOGUE_DIR) -> None:
        self._all = {locale: load_catalogue(locale, directory) for locale in LOCALES}

    def translator(self, locale: str) -> Translator:
        chosen = locale if locale in self._all else DEFAULT_LOCALE
        return Translator(chosen, self._all[chosen], self._all[DEFAULT_LOCALE])

    def keys(self, locale: str) -> set[str]:
        return set(self._all[locale])


def negotiate(cookie: str | None) -> str:
    """The person's explicit choice (a cookie set by the switch on every page), else Chinese.

    The browser's Accept-Language is not consulted: many of our users run an English OS or a
    borrowed phone and still read Chinese first, and a page that changes language by device
    is more confusing than one that always starts in Chinese.
    """
    return cookie if cookie in LOCALES else DEFAULT_LOCALE
