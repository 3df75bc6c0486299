"""The claim state machine: the table is the whole truth, and nothing gets around it."""

import itertools
from collections import deque
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from services.claims.domain.confirmation import (
    Confirmation,
    ConfirmingParty,
    state_after_confirm,
)
from services.claims.domain.errors import (
    IllegalTransition,
    InvalidFields,
    InvalidValue,
    OwnersCharged,
    RoleNotAllowed,
    TargetRequired,
)
from services.claims.domain.states import (
    ACTION_ROLES,
    OPEN,
    TERMINAL,
    TRANSITIONS,
    Action,
    ClaimState,
    Role,
    allowed_actions,
    check_role,
    perform,
    transition,
)
from shared.clock import SHANGHAI

S, A = ClaimState, Action
AT = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)

LEGAL = [(s, a, t) for (s, a), ts in TRANSITIONS.items() for t in sorted(ts)]
ILLEGAL = [(s, a) for s in ClaimState for a in Action if (s, a) not in TRANSITIONS]


def test_table_matches_the_brief():
    assert {(s.value, a.value): {t.value for t in ts} for (s, a), ts in TRANSITIONS.items()} == {
        ("reported", "dispatch"): {"dispatched"},
        ("dispatched", "arrive"): {"on_site"},
        ("on_site", "submit_quote"): {"quoted"},
        ("quoted", "submit_quote"): {"quoted"},
        ("quoted", "assess"): {"under_review", "approved"},
        ("under_review", "approve"): {"approved", "pending_second_review"},
        ("under_review", "approve_in_part"): {"partly_approved", "pending_second_review"},
        ("under_review", "reject"): {"rejected"},
        ("under_review", "request_evidence"): {"quoted"},
        ("pending_second_review", "second_approve"): {"approved", "partly_approved"},
        ("pending_second_review", "second_reject"): {"rejected"},
        ("approved", "mark_repaired"): {"repaired"},
        ("partly_approved", "mark_repaired"): {"repaired"},
        ("repaired", "confirm"): {"repaired", "confirmed"},
        ("confirmed", "pay"): {"paid"},
        ("paid", "close"): {"closed"},
        ("rejected", "close"): {"closed"},
        ("rejected", "reopen"): {"under_review"},
    }


def test_every_state_is_reachable_from_reported_and_every_open_state_can_move():
    seen, queue = {S.REPORTED}, deque([S.REPORTED])
    while queue:
        state = queue.popleft()
        for (s, _), ts in TRANSITIONS.items():
            if s is state:
                for t in ts - seen:
                    seen.add(t)
                    queue.append(t)
    assert seen == set(ClaimState)
    assert {S.CLOSED} == TERMINAL
    for state in OPEN:
        assert allowed_actions(state), state
    assert allowed_actions(S.CLOSED) == frozenset()


@pytest.mark.parametrize(("state", "action", "target"), LEGAL)
def test_every_legal_transition(state, action, target):
    assert transition(state, action, target=target) is target
    if len(TRANSITIONS[(state, action)]) == 1:
        assert transition(state, action) is target


@pytest.mark.parametrize(("state", "action"), ILLEGAL)
def test_every_illegal_pair_raises(state, action):
    with pytest.raises(IllegalTransition) as caught:
        transition(state, action)
    assert (caught.value.state, caught.value.action) == (state, action)
    for target in ClaimState:
        with pytest.raises(IllegalTransition):
            transition(state, action, target=target)


def test_a_target_outside_the_outcomes_is_illegal():
    with pytest.raises(IllegalTransition) as caught:
        transition(S.QUOTED, A.ASSESS, target=S.PAID)
    assert caught.value.target == S.PAID
    with pytest.raises(IllegalTransition):
        transition(S.REPORTED, A.DISPATCH, target=S.ON_SITE)


def test_several_outcomes_need_a_target():
    with pytest.raises(TargetRequired) as caught:
        transition(S.UNDER_REVIEW, A.APPROVE)
    assert caught.value.targets == ("approved", "pending_second_review")
    assert caught.value.field == "target"


def test_plain_strings_work_too():
    assert transition("reported", "dispatch") == "dispatched"  # type: ignore[arg-type]


def test_unknown_codes_are_invalid_input_not_a_crash():
    with pytest.raises(InvalidValue) as caught:
        transition("lost", "dispatch")  # type: ignore[arg-type]
    assert caught.value.field == "state"
    with pytest.raises(InvalidValue) as caught:
        transition(S.REPORTED, "teleport")  # type: ignore[arg-type]
    assert caught.value.field == "action"
    with pytest.raises(InvalidValue):
        check_role("teleport", "adjuster")  # type: ignore[arg-type]


def test_roles():
    assert set(ACTION_ROLES) == set(Action)
    check_role(A.DISPATCH, "partner")
    check_role(A.SECOND_APPROVE, "senior_reviewer")
    for action in Action:
        with pytest.raises(RoleNotAllowed):
            check_role(action, Role.AUDITOR)
    for action in (A.APPROVE, A.APPROVE_IN_PART, A.SECOND_APPROVE, A.PAY, A.ASSESS):
        with pytest.raises(RoleNotAllowed):
            check_role(action, "contractor")
    with pytest.raises(RoleNotAllowed):
        check_role(A.SECOND_APPROVE, "adjuster")
    with pytest.raises(RoleNotAllowed):
        check_role(A.APPROVE, "service")  # a person's decision, never automation's


def test_perform_records_who_when_why():
    record = perform(
        claim_id="C1",
        state=S.REJECTED,
        action=A.REOPEN,
        actor="u-7",
        role="adjuster",
        at=AT.astimezone(SHANGHAI),
        reason=" new photos show the brake was worn ",
    )
    assert (record.from_state, record.to_state, record.reason) == (
        S.REJECTED,
        S.UNDER_REVIEW,
        "new photos show the brake was worn",
    )
    assert record.at == AT


def test_perform_checks_role_before_state():
    with pytest.raises(RoleNotAllowed):
        perform(
            claim_id="C1", state=S.CLOSED, action=A.APPROVE, actor="c", role="contractor", at=AT
        )


def test_perform_refuses_bad_input_all_at_once():
    with pytest.raises(InvalidFields) as caught:
        perform(
            claim_id="",
            state=S.REJECTED,
            action=A.REOPEN,
            actor=" ",
            role="adjuster",
            at=datetime(2025, 1, 1),
            reason="",
        )
    assert [p.field for p in caught.value.problems] == ["claim_id", "actor", "at", "reason"]


def test_confirmation_needs_both_parties():
    pm, owner = ConfirmingParty.PROPERTY_MANAGER, ConfirmingParty.OWNER_REPRESENTATIVE
    assert state_after_confirm([]) is S.REPAIRED
    assert state_after_confirm([pm, pm]) is S.REPAIRED
    assert state_after_confirm([owner]) is S.REPAIRED
    assert state_after_confirm([owner, pm]) is S.CONFIRMED
    with pytest.raises(OwnersCharged):
        Confirmation(party=owner, by="业主张三", at=AT, no_charge_to_owners=False)


class ClaimMachine(RuleBasedStateMachine):
    """Random actors try random actions; the claim must only ever move along the table."""

    def __init__(self) -> None:
        super().__init__()
        self.state = S.REPORTED
        self.confirmed_by: set[ConfirmingParty] = set()
        self.times_paid = 0
        self.history: list[ClaimState] = [S.REPORTED]
        self.now = AT

    def _apply(self, action: Action, role: str, target: ClaimState | None) -> None:
        before = self.state
        self.now += timedelta(minutes=1)
        legal = TRANSITIONS.get((before, action), frozenset())
        try:
            record = perform(
                claim_id="C1",
                state=before,
                action=action,
                actor="someone",
                role=role,
                at=self.now,
                reason="because",
                target=target,
            )
        except RoleNotAllowed:
            assert role not in ACTION_ROLES[action]
            return
        except TargetRequired:
            assert target is None and len(legal) > 1
            return
        except IllegalTransition:
            assert not legal or (target is not None and target not in legal)
            return
        assert role in ACTION_ROLES[action]
        assert record.to_state in legal
        self.state = record.to_state
        self.history.append(self.state)
        if self.state is S.PAID:
            self.times_paid += 1

    @rule(
        action=st.sampled_from(Action),
        role=st.sampled_from(Role),
        outcome=st.none() | st.sampled_from(ClaimState),
    )
    def anything(self, action: Action, role: Role, outcome: ClaimState | None) -> None:
        if action is A.CONFIRM:
            return  # confirmations go through the rule below, with their parties
        self._apply(action, role, outcome)

    @precondition(lambda self: self.state is not S.CLOSED)
    @rule(data=st.data())
    def a_legal_move(self, data: st.DataObject) -> None:
        """Push the claim along, so that random runs reach the far states."""
        action = data.draw(st.sampled_from(sorted(allowed_actions(self.state))))
        if action is A.CONFIRM:
            self.confirm(data.draw(st.sampled_from(ConfirmingParty)))
            return
        target = data.draw(st.sampled_from(sorted(TRANSITIONS[(self.state, action)])))
        role = data.draw(st.sampled_from(sorted(ACTION_ROLES[action])))
        self._apply(action, role, target)

    @rule(party=st.sampled_from(ConfirmingParty))
    def confirm(self, party: ConfirmingParty) -> None:
        if self.state is not S.REPAIRED:
            with pytest.raises(IllegalTransition):
                transition(self.state, A.CONFIRM, target=S.CONFIRMED)
            return
        self.confirmed_by.add(party)
        self._apply(A.CONFIRM, "partner", state_after_confirm(self.confirmed_by))

    @invariant()
    def state_is_legal(self) -> None:
        assert self.state in set(ClaimState)
        for before, after in itertools.pairwise(self.history):
            assert any(after in ts for (s, _), ts in TRANSITIONS.items() if s is before)

    @invariant()
    def terminal_accepts_nothing(self) -> None:
        if self.state in TERMINAL:
            for action in Action:
                with pytest.raises(IllegalTransition):
                    transition(self.state, action)

    @invariant()
    def paid_at_most_once(self) -> None:
        assert self.times_paid <= 1
        assert self.history.count(S.PAID) <= 1

    @invariant()
    def confirmed_only_by_both(self) -> None:
        if S.CONFIRMED in self.history[-1:]:
            assert self.confirmed_by == set(ConfirmingParty)


ClaimMachine.TestCase.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)
TestClaimMachine = ClaimMachine.TestCase
