"""Every word of the UI is in every catalogue, and every key the templates use exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from services.web.domain.i18n import DEFAULT_LOCALE, LOCALES, Catalogues, negotiate

TEMPLATES = Path(__file__).resolve().parents[3] / "services" / "web" / "templates"
# t("literal.key") with a literal key; dynamic keys ("state." ~ s) are checked by prefix below.
LITERAL = re.compile(r"""\bt\(\s*["']([a-z_]+(?:\.[A-Za-z0-9_-]+)+)["']""")
catalogues = Catalogues()


def test_every_catalogue_has_the_same_keys() -> None:
    default = catalogues.keys(DEFAULT_LOCALE)
    for locale in LOCALES:
        assert catalogues.keys(locale) == default, locale


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_every_literal_key_in_a_template_exists(template: str) -> None:
    used = set(LITERAL.findall((TEMPLATES / template).read_text()))
    missing = used - catalogues.keys(DEFAULT_LOCALE)
    assert not missing, missing


def test_every_claim_state_and_action_has_words() -> None:
    from services.claims.domain.states import Action, ClaimState  # codes, not behaviour

    keys = catalogues.keys(DEFAULT_LOCALE)
    assert {f"state.{s.value}" for s in ClaimState} <= keys
    assert {f"action.{a.value}" for a in Action} <= keys


def test_a_missing_key_reads_as_itself_and_values_are_filled_in() -> None:
    zh = catalogues.translator("zh-CN")
    assert zh("no.such.key") == "no.such.key"
    assert zh("queue.left", h=1, m=5) == "剩 1 小时 5 分"
    assert catalogues.translator("en")("queue.left", h=1, m=5) == "1 h 5 min left"


def test_chinese_unless_the_person_chose_english() -> None:
    assert negotiate(None) == "zh-CN"
    assert negotiate("en") == "en"
    assert negotiate("fr") == "zh-CN"
    assert catalogues.translator("fr").locale == "zh-CN"
