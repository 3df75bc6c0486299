"""The black/white list: a contractor's standing each month, with a reason they can read.

``decide_standing`` is a pure function of the contractor's past decisions, this month's
scorecard, the rules and the manual overrides, so any month can be replayed. In order:

1. an approved **manual override** covering the month wins (reason and both people named);
2. with **no scorecard** (no jobs this month) the status stays as it is;
3. **regulator grades**: an inspection first-pass rate below 60 % is the black list at once,
   below 70 % a bad record that keeps the contractor off the white list. These bypass the
   minimum time in a state: the regulator's finding is not a wobble;
4. the **score with hysteresis**: white is entered at ``white_entry`` and left only below
   ``white_exit``; black is entered below ``black_entry`` and left only above ``black_exit``,
   back to grey (a blacklisted contractor earns white through grey);
5. a score-driven change waits until ``min_months_in_state`` months in the current status
   (``MIN_TIME_IN_STATE``). A new contractor starts grey.

Reason codes are an interface (claims adjudication and the contractor portal read them):
never renamed or reused.
"""

from __future__ import annotations

import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from typing import Any

from services.contractors.domain.scorecards import Metric, Period, Scorecard
from shared.domain_errors import InvalidInput, InvalidValue, PermissionDenied

_PACKAGE = "services.contractors.domain"
_FILE = "standing_rules.toml"


class Status(StrEnum):
    WHITE = "white"  # fast-tracked: straight-through payment, lighter review
    GREY = "grey"  # ordinary review
    BLACK = "black"  # no new work; claims held


class StandingReason(StrEnum):
    NEW_CONTRACTOR = "NEW_CONTRACTOR"
    NO_SCORECARD = "NO_SCORECARD"
    SCORE_ABOVE_WHITE_ENTRY = "SCORE_ABOVE_WHITE_ENTRY"
    SCORE_BELOW_WHITE_EXIT = "SCORE_BELOW_WHITE_EXIT"
    SCORE_BELOW_BLACK_ENTRY = "SCORE_BELOW_BLACK_ENTRY"
    SCORE_ABOVE_BLACK_EXIT = "SCORE_ABOVE_BLACK_EXIT"
    SCORE_WITHIN_BAND = "SCORE_WITHIN_BAND"
    MIN_TIME_IN_STATE = "MIN_TIME_IN_STATE"
    INSPECTION_PASS_RATE_BELOW_70 = "INSPECTION_PASS_RATE_BELOW_70"  # noqa: S105
    INSPECTION_PASS_RATE_BELOW_60 = "INSPECTION_PASS_RATE_BELOW_60"  # noqa: S105
    MANUAL_OVERRIDE = "MANUAL_OVERRIDE"


_TEXT: dict[StandingReason, tuple[str, str]] = {
    StandingReason.NEW_CONTRACTOR: (
        "New to the list: every contractor starts grey.",
        "新纳入名单：所有维保单位初始为灰名单。",
    ),
    StandingReason.NO_SCORECARD: (
        "No jobs scored this month; the status stays {status}.",
        "本月无可评分作业，状态保持为{status}。",
    ),
    StandingReason.SCORE_ABOVE_WHITE_ENTRY: (
        "Score {score:.1f} is at or above the white-list entry of {threshold:.1f}.",
        "综合得分 {score:.1f} 达到白名单准入线 {threshold:.1f}。",
    ),
    StandingReason.SCORE_BELOW_WHITE_EXIT: (
        "Score {score:.1f} fell below the white-list exit of {threshold:.1f}.",
        "综合得分 {score:.1f} 低于白名单退出线 {threshold:.1f}。",
    ),
    StandingReason.SCORE_BELOW_BLACK_ENTRY: (
        "Score {score:.1f} is below the black-list entry of {threshold:.1f}.",
        "综合得分 {score:.1f} 低于黑名单纳入线 {threshold:.1f}。",
    ),
    StandingReason.SCORE_ABOVE_BLACK_EXIT: (
        "Score {score:.1f} rose above the black-list exit of {threshold:.1f}; back to grey.",
        "综合得分 {score:.1f} 高于黑名单退出线 {threshold:.1f}，转入灰名单。",
    ),
    StandingReason.SCORE_WITHIN_BAND: (
        "Score {score:.1f} does not cross a threshold for leaving {status}; status unchanged.",
        "综合得分 {score:.1f} 未越过{status}的变更阈值，状态不变。",
    ),
    StandingReason.MIN_TIME_IN_STATE: (
        "Score {score:.1f} would change the status, but it has been {status} for only "
        "{months} of the {threshold:.0f} months required; status unchanged.",
        "综合得分 {score:.1f} 已达变更条件，但处于{status}仅 {months} 个月，"
        "未满 {threshold:.0f} 个月的最短期限，状态不变。",
    ),
    StandingReason.INSPECTION_PASS_RATE_BELOW_70: (
        "Inspection first-pass rate {rate:.0%} is below 70%: a bad record, no white list.",
        "特种设备检验一次合格率 {rate:.0%} 低于 70%，记不良记录，不得列入白名单。",
    ),
    StandingReason.INSPECTION_PASS_RATE_BELOW_60: (
        "Inspection first-pass rate {rate:.0%} is below 60%: black list.",
        "特种设备检验一次合格率 {rate:.0%} 低于 60%，列入黑名单。",
    ),
    StandingReason.MANUAL_OVERRIDE: (
        "Set by hand to {status}: {note} (requested by {by}, approved by {approver}).",
        "人工设定为{status}：{note}（申请人 {by}，复核人 {approver}）。",
    ),
}

_ZH_STATUS = {Status.WHITE: "白名单", Status.GREY: "灰名单", Status.BLACK: "黑名单"}


class InvalidStandingRules(InvalidInput):
    code = "INVALID_STANDING_RULES"


class OverrideNeedsSecondApprover(PermissionDenied):
    code = "OVERRIDE_NEEDS_SECOND_APPROVER"


@dataclass(frozen=True)
class StandingRules:
    version: str
    effective_from: Period
    white_entry: float
    white_exit: float
    black_entry: float
    black_exit: float
    min_months_in_state: int
    inspection_bad_record_below: float
    inspection_blacklist_below: float
    inspection_min_count: int

    def __post_init__(self) -> None:
        if not (
            0 <= self.black_entry < self.black_exit <= self.white_exit < self.white_entry <= 100
        ):
            raise InvalidStandingRules(
                f"rules {self.version}: need black_entry < black_exit <= white_exit < white_entry"
            )
        if not 0 <= self.inspection_blacklist_below <= self.inspection_bad_record_below <= 1:
            raise InvalidStandingRules(f"rules {self.version}: inspection thresholds out of order")
        if self.min_months_in_state < 0 or self.inspection_min_count < 1:
            raise InvalidStandingRules(f"rules {self.version}: negative months or counts")


@dataclass(frozen=True)
class RuleBook:
    versions: tuple[StandingRules, ...]  # by effective_from

    def for_period(self, period: Period) -> StandingRules:
        """The version in force in ``period``: the latest that took effect on or before it."""
        applicable = [r for r in self.versions if r.effective_from <= period]
        if not applicable:
            raise InvalidValue("period", f"no standing rules in force in {period}")
        return applicable[-1]


def load_standing_rules(text: str | None = None) -> RuleBook:
    """Every version of the rules from TOML ``text``; by default the packaged file."""
    if text is None:
        text = resources.files(_PACKAGE).joinpath(_FILE).read_text(encoding="utf-8")
    try:
        doc: dict[str, Any] = tomllib.loads(text)
        versions = tuple(
            StandingRules(
                version=str(v["version"]),
                effective_from=Period.parse(str(v["effective_from"])),
                white_entry=float(v["white_entry"]),
                white_exit=float(v["white_exit"]),
                black_entry=float(v["black_entry"]),
                black_exit=float(v["black_exit"]),
                min_months_in_state=int(v["min_months_in_state"]),
                inspection_bad_record_below=float(v["inspection_bad_record_below"]),
                inspection_blacklist_below=float(v["inspection_blacklist_below"]),
                inspection_min_count=int(v["inspection_min_count"]),
            )
            for v in doc["version"]
        )
    except InvalidStandingRules:
        raise
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise InvalidStandingRules(f"malformed standing rules: {exc!r}") from exc
    if not versions:
        raise InvalidStandingRules("no rule versions")
    ordered = tuple(sorted(versions, key=lambda r: r.effective_from))
    if len({r.effective_from for r in ordered}) != len(ordered):
        raise InvalidStandingRules("two versions take effect in the same month")
    return RuleBook(ordered)


@dataclass(frozen=True)
class ManualOverride:
    """A status set by hand for ``effective_from``..``until`` (inclusive; None = open).

    No single person sets a status alone: the approver must be someone else (双重复核).
    """

    contractor_id: str
    status: Status
    reason: str
    requested_by: str
    approved_by: str
    effective_from: Period
    until: Period | None = None

    def __post_init__(self) -> None:
        for name in ("contractor_id", "reason", "requested_by", "approved_by"):
            if not getattr(self, name).strip():
                raise InvalidValue(name, "must not be empty")
        if self.requested_by.strip().casefold() == self.approved_by.strip().casefold():
            raise OverrideNeedsSecondApprover(
                "a manual override needs a second approver, not the person who requested it",
                field="approved_by",
            )
        if self.until is not None and self.until < self.effective_from:
            raise InvalidValue("until", "must not be before effective_from")

    def covers(self, contractor_id: str, period: Period) -> bool:
        return (
            self.contractor_id == contractor_id
            and self.effective_from <= period
            and (self.until is None or period <= self.until)
        )


@dataclass(frozen=True)
class StandingDecision:
    contractor_id: str
    period: Period
    status: Status
    reason_code: StandingReason
    explanation_en: str
    explanation_zh: str
    since: Period  # the first month of the current run of this status
    rules_version: str


def _explain(reason: StandingReason, status: Status, **values: Any) -> tuple[str, str]:
    en, zh = _TEXT[reason]
    return (
        en.format(status=status.value, **values),
        zh.format(status=_ZH_STATUS[status], **values),
    )


def decide_standing(
    contractor_id: str,
    history: Sequence[StandingDecision],
    scorecard: Scorecard | None,
    rules: RuleBook | StandingRules,
    overrides: Sequence[ManualOverride],
    period: Period,
) -> StandingDecision:
    """The contractor's standing in ``period``; ``history`` is their earlier decisions."""
    if scorecard is not None and scorecard.contractor_id != contractor_id:
        raise InvalidValue("scorecard", "is another contractor's")
    if scorecard is not None and scorecard.period != period:
        raise InvalidValue("scorecard", f"is for {scorecard.period}, not {period}")
    past = sorted((d for d in history if d.period < period), key=lambda d: d.period)
    if any(d.contractor_id != contractor_id for d in past):
        raise InvalidValue("history", "holds another contractor's decisions")
    ruleset = rules.for_period(period) if isinstance(rules, RuleBook) else rules

    current, since = (past[-1].status, past[-1].since) if past else (Status.GREY, period)

    def decide(status: Status, reason: StandingReason, **values: Any) -> StandingDecision:
        en, zh = _explain(reason, status, **values)
        return StandingDecision(
            contractor_id=contractor_id,
            period=period,
            status=status,
            reason_code=reason,
            explanation_en=en,
            explanation_zh=zh,
            since=since if status is current else period,
            rules_version=ruleset.version,
        )

    active = [o for o in overrides if o.covers(contractor_id, period)]
    if active:
        o = max(active, key=lambda o: o.effective_from)
        return decide(
            o.status,
            StandingReason.MANUAL_OVERRIDE,
            note=o.reason,
            by=o.requested_by,
            approver=o.approved_by,
        )
    if scorecard is None:
        reason = StandingReason.NO_SCORECARD if past else StandingReason.NEW_CONTRACTOR
        return decide(current, reason)

    inspection = scorecard.metric(Metric.INSPECTION_FIRST_PASS)
    if inspection.trials >= ruleset.inspection_min_count and inspection.raw_rate is not None:
        rate = inspection.raw_rate
        if rate < ruleset.inspection_blacklist_below:
            return decide(Status.BLACK, StandingReason.INSPECTION_PASS_RATE_BELOW_60, rate=rate)
        bad_record = rate < ruleset.inspection_bad_record_below
    else:
        rate, bad_record = 0.0, False

    score = scorecard.composite
    target, reason, threshold = current, StandingReason.SCORE_WITHIN_BAND, 0.0
    if current is not Status.BLACK and score < ruleset.black_entry:
        target, reason, threshold = (
            Status.BLACK,
            StandingReason.SCORE_BELOW_BLACK_ENTRY,
            ruleset.black_entry,
        )
    elif current is Status.WHITE and score < ruleset.white_exit:
        target, reason, threshold = (
            Status.GREY,
            StandingReason.SCORE_BELOW_WHITE_EXIT,
            ruleset.white_exit,
        )
    elif current is Status.GREY and score >= ruleset.white_entry:
        target, reason, threshold = (
            Status.WHITE,
            StandingReason.SCORE_ABOVE_WHITE_ENTRY,
            ruleset.white_entry,
        )
    elif current is Status.BLACK and score > ruleset.black_exit:
        target, reason, threshold = (
            Status.GREY,
            StandingReason.SCORE_ABOVE_BLACK_EXIT,
            ruleset.black_exit,
        )

    if bad_record and Status.WHITE in (target, current):
        return decide(Status.GREY, StandingReason.INSPECTION_PASS_RATE_BELOW_70, rate=rate)

    months = period.index - since.index
    if target is not current and months < ruleset.min_months_in_state:
        return decide(
            current,
            StandingReason.MIN_TIME_IN_STATE,
            score=score,
            months=months,
            threshold=float(ruleset.min_months_in_state),
        )
    if target is current and not past and reason is StandingReason.SCORE_WITHIN_BAND:
        return decide(current, StandingReason.NEW_CONTRACTOR)
    return decide(target, reason, score=score, threshold=threshold)


def deciding_scorecard(cards: Sequence[Scorecard]) -> Scorecard | None:
    """The one scorecard of a month that decides a contractor's standing.

    Standing is per contractor, scorecards per region. The region where the contractor did
    most of the month's work decides; on a tie the lower score does, so that spreading work
    over regions never hides a bad record.
    """
    if not cards:
        return None
    return max(cards, key=lambda c: (c.events, -c.composite, c.region))
