from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.web.domain.access import Capability, Role, home_path, may
from services.web.domain.formatting import local_time, money, remaining, yuan_to_fen
from services.web.domain.lockout import LOCK_FOR, MAX_FAILURES, Attempts
from services.web.domain.urgency import Urgency, urgency
from services.web.views.guard import safe_next

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("typed", "fen"),
    [("1,234.56", 123456), ("¥80", 8000), ("0", 0), (" 12.5 ", 1250), ("3，000", 300000)],
)
def test_amounts_typed_by_people(typed: str, fen: int) -> None:
    assert yuan_to_fen(typed) == fen


@pytest.mark.parametrize("typed", ["", "abc", "-1", "1.234", "NaN", "Infinity", "1e400"])
def test_what_is_not_an_amount(typed: str) -> None:
    with pytest.raises(ValueError):
        yuan_to_fen(typed)


def test_money_and_shanghai_time() -> None:
    assert money(123456) == "¥1,234.56"
    assert money(None) == "—"
    assert local_time(datetime(2026, 11, 24, 16, 30, tzinfo=UTC)) == "2026-11-25 00:30"
    assert remaining(NOW + timedelta(minutes=61, seconds=59), NOW) == (1, 1, 1)
    assert remaining(NOW - timedelta(minutes=90), NOW) == (-1, 1, 30)


def test_five_wrong_passwords_lock_the_account_for_a_while() -> None:
    attempts = Attempts(0, None)
    for _ in range(MAX_FAILURES - 1):
        attempts = attempts.after_failure(NOW)
        assert not attempts.locked(NOW)
    attempts = attempts.after_failure(NOW)
    assert attempts.locked(NOW)
    assert attempts.locked(NOW + LOCK_FOR - timedelta(seconds=1))
    assert not attempts.locked(NOW + LOCK_FOR)
    # After the lock runs out, one more failure starts a new count rather than relocking.
    again = attempts.after_failure(NOW + LOCK_FOR)
    assert not again.locked(NOW + LOCK_FOR) and again.failures == 1


def test_urgency_bands() -> None:
    assert urgency(None, NOW) is Urgency.NONE
    assert urgency(NOW - timedelta(seconds=1), NOW) is Urgency.BREACHED
    assert urgency(NOW + timedelta(hours=1), NOW) is Urgency.SOON
    assert urgency(NOW + timedelta(hours=5), NOW) is Urgency.RUNNING
    assert urgency(NOW + timedelta(hours=5), NOW, breached=True) is Urgency.BREACHED


def test_who_may_do_what() -> None:
    assert may(Role.ADJUSTER, Capability.DECIDE)
    assert not may(Role.ADJUSTER, Capability.SECOND_REVIEW)
    assert may(Role.SENIOR_REVIEWER, Capability.SECOND_REVIEW)
    assert not may(Role.AUDITOR, Capability.DECIDE) and may(Role.AUDITOR, Capability.READ_CLAIMS)
    assert not may(Role.CONTRACTOR, Capability.READ_CLAIMS)
    assert may(Role.CONTRACTOR, Capability.CONTRACTOR_WORK)
    assert home_path(Role.CONTRACTOR) == "/jobs" and home_path(Role.AUDITOR) == "/queue"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/claims/x?y=1", "/claims/x?y=1"),
        ("//evil.example/x", "/queue"),
        ("https://evil.example", "/queue"),
        ("/\\evil.example", "/queue"),
        ("", "/queue"),
        (None, "/queue"),
    ],
)
def test_after_sign_in_only_same_site_paths(target: str | None, expected: str) -> None:
    assert safe_next(target, "/queue") == expected


def test_every_web_role_is_a_role_the_services_know():
    """A person's token carries their web role (``clients.Upstreams.caller``): one the
    services do not know would be refused on every call."""
    from shared.auth import Role as ServiceRole

    assert {r.value for r in Role} <= {r.value for r in ServiceRole}
