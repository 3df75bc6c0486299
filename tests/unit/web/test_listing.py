"""The list pages' months, regions and override states."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.web.domain.listing import (
    OverrideState,
    in_regions,
    is_month,
    month_of,
    months_ending,
    override_state,
)


def test_the_month_turns_at_midnight_in_shanghai() -> None:
    assert month_of(datetime(2026, 11, 30, 15, 59, tzinfo=UTC)) == "2026-11"
    assert month_of(datetime(2026, 11, 30, 16, 0, tzinfo=UTC)) == "2026-12"


def test_months_ending_cross_the_year() -> None:
    assert months_ending("2026-02", 4) == ("2025-11", "2025-12", "2026-01", "2026-02")
    assert len(months_ending("2026-10", 12)) == 12 and months_ending("2026-10", 12)[0] == "2025-11"
    assert months_ending("2026-10", 1) == ("2026-10",)
    with pytest.raises(ValueError, match="not a month"):
        months_ending("2026-13", 3)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("2026-01", True), ("2026-12", True), ("2026-00", False), ("2026-13", False),
     ("2026-1", False), ("26-01", False), ("2026/01", False), ("", False), ("２０２６-01", False)],
)  # fmt: skip
def test_is_month(text: str, ok: bool) -> None:
    assert is_month(text) is ok


def test_regions_by_prefix() -> None:
    assert in_regions("430202", ["4302"]) and in_regions("430202", ["3301", "430202"])
    assert not in_regions("430202", ["3301"]) and not in_regions("430202", [])
    assert in_regions("110101", ["*"])


@pytest.mark.parametrize(
    ("approved", "start", "until", "state"),
    [
        (False, "2026-01", "", OverrideState.PENDING),
        (True, "2026-12", "", OverrideState.SCHEDULED),
        (True, "2026-11", "", OverrideState.IN_FORCE),
        (True, "2026-01", "2026-11", OverrideState.IN_FORCE),  # the last month still counts
        (True, "2026-01", "2026-10", OverrideState.ENDED),
    ],
)
def test_where_an_override_stands_in_november(approved, start, until, state) -> None:
    assert (
        override_state(approved=approved, effective_from=start, until=until, this_month="2026-11")
        is state
    )


def test_every_standing_reason_metric_and_override_state_has_words() -> None:
    from services.contractors.domain.scorecards import Metric  # codes, not behaviour
    from services.contractors.domain.standing import StandingReason
    from services.web.domain.i18n import DEFAULT_LOCALE, Catalogues
    from services.web.views.contractors import METRICS

    keys = Catalogues().keys(DEFAULT_LOCALE)
    assert {f"standing.reason.{r.value}" for r in StandingReason} <= keys
    assert {f"metric.{m.value}" for m in Metric} <= keys
    assert {f"override.state.{s.value}" for s in OverrideState} <= keys
    assert tuple(m.value for m in Metric) == METRICS  # the page shows them in the service's order
