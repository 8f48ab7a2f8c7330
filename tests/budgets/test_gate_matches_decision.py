"""The budget rule has two bodies — the gate (one conditional ``UPDATE`` that holds most requests) and the
decision (the same rule in Python under the budget row's lock) — and they must be one rule: the gate
writes exactly when the decision would admit unflagged with nothing else to do (no ``Detour``), and when
it steps aside, the detours it names are the ones the decision finds.

Each budget state is set up inside a savepoint, then asked of the gate and of the decision, each in a
savepoint of its own that is rolled back, so both see the same state."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import reservations
from donatello.budgets.errors import BudgetNotConfigured, BudgetRefusal
from donatello.budgets.holds_repository import HOUSEKEEPING, Detour, GateVerdict
from donatello.generations import repository as generations
from donatello.models import BudgetReservation, DepartmentBudget, Generation, User
from donatello.tenancy import Principal, Role
from tests.support import factories
from tests.support.ledger import pending_generation

ZONES = ("Australia/Sydney", "UTC", "America/Los_Angeles")
MODES = ("hard", "soft", "warn")
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
MONTHLY = Decimal("1.00")
HOLD_FOR = timedelta(minutes=15)


@dataclass(frozen=True)
class State:
    """A department's budget as stored, and the request asked of it at ``at``."""

    at: datetime
    stored: tuple[date, date]  # the period the row holds (rolled over or not)
    spent: Decimal
    live_held: Decimal  # holds still counting
    lapsed_held: Decimal  # holds past their expiry, not swept yet (0: none)
    top_up: Decimal
    cap: Decimal | None
    quote: Decimal

    @property
    def over_as_stored(self) -> bool:
        """Over budget on the figures as stored, before any housekeeping (lapsed holds still counted)."""
        return self.spent + self.live_held + self.lapsed_held + self.quote > MONTHLY + self.top_up


@dataclass(frozen=True)
class Verdict:
    gate: GateVerdict  # what the gate's statement named (empty: it wrote)
    gate_wrote: bool
    admitted: bool
    flagged: bool
    detours: frozenset[Detour]  # what the decision found on its way, admitted or refused

    @property
    def plainly_admitted(self) -> bool:
        """Admitted unflagged with nothing else to do: what the gate must do alone."""
        return self.admitted and not self.flagged and not self.detours

    def names_what_the_decision_found(self, state: State) -> bool:
        """The gate's named detours, mapped to the decision's: the same housekeeping (a period to roll over,
        lapsed holds to sweep) and the same per-user cap; over budget the same when there is no
        housekeeping, else (the figures change on the way) over budget on the figures as stored."""
        named, found = self.gate.detours, self.detours
        if named - {Detour.OVER_BUDGET} != found - {Detour.OVER_BUDGET}:
            return False
        over = state.over_as_stored if named & HOUSEKEEPING else Detour.OVER_BUDGET in found
        return (Detour.OVER_BUDGET in named) == over


def _month_turn(zone: str) -> datetime:
    """Local midnight as November begins in ``zone``."""
    return datetime.combine(date(2026, 11, 1), time.min, ZoneInfo(zone)).astimezone(UTC)


async def _member(db: AsyncSession, zone: str) -> User:
    org = await factories.organization(db)
    org.settings = {"timezone": zone}
    return await factories.user(db, org, department=await factories.department(db, org))


def _principal(member: User, zone: str) -> Principal:
    return Principal(
        user_id=member.id,
        organization_id=member.organization_id,
        department_id=member.department_id,
        role=Role(member.role),
        email=member.email,
        organization_timezone=zone,
    )


async def _hold(
    db: AsyncSession, member: User, amount: Decimal, *, taken: date, expires_at: datetime
) -> None:
    generation = pending_generation(member)
    db.add(generation)
    assert member.department_id is not None
    db.add(
        BudgetReservation(
            organization_id=member.organization_id,
            department_id=member.department_id,
            user_id=member.id,
            generation_id=generation.id,
            amount_aud=amount,
            status="held",
            is_over_budget=False,
            period_start=taken,
            expires_at=expires_at,
            created_at=expires_at - HOLD_FOR,
        )
    )


async def _set_up(db: AsyncSession, member: User, mode: str, state: State) -> None:
    assert member.department_id is not None
    db.add(
        DepartmentBudget(
            organization_id=member.organization_id,
            department_id=member.department_id,
            monthly_budget_aud=MONTHLY,
            current_spend_aud=state.spent,
            reserved_aud=state.live_held + state.lapsed_held,
            period_top_up_aud=state.top_up,
            budget_period_start=state.stored[0],
            budget_period_end=state.stored[1],
            enforcement_mode=mode,
            per_user_monthly_cap_aud=state.cap,
        )
    )
    if state.live_held:
        await _hold(
            db, member, state.live_held, taken=state.stored[0], expires_at=state.at + timedelta(minutes=9)
        )
    if state.lapsed_held:
        await _hold(
            db, member, state.lapsed_held, taken=state.stored[0], expires_at=state.at - timedelta(seconds=1)
        )
    await db.flush()


def _requested(principal: Principal, generation: Generation) -> dict[str, object]:
    return audit.outbox_row(
        audit.event(
            "generation.requested",
            action="generation_requested",
            resource=("generation", generation.id),
            organization_id=generation.organization_id,
            actor=principal,
            details={"reserved_aud": generation.reservation_aud},
        )
    )


async def _gate_writes(
    db: AsyncSession, member: User, principal: Principal, state: State
) -> tuple[bool, GateVerdict]:
    """Admission's common path: the gate, carried by the statement that writes the generation; whether it
    wrote, and what it named."""
    generation = pending_generation(member)
    generation.reservation_aud, generation.created_at, generation.next_attempt_at = (
        state.quote,
        state.at,
        state.at,
    )
    generation.is_over_budget, generation.reservation_expires_at = False, state.at + HOLD_FOR
    async with db.begin_nested() as savepoint:
        gated = reservations.hold_if_within_budget(
            principal, [reservations.HoldRequest(generation.id, state.quote)], at=state.at, hold_for=HOLD_FOR
        )
        written, verdict = await generations.add_admitted_if(
            db,
            [generation],
            [_requested(principal, generation)],
            along=(gated.ctes, gated.parameters),
            gate=gated.gate.held,
            verdict=gated.gate.verdict,
        )
        await savepoint.rollback()
    return bool(written), reservations.verdict_of(verdict)


async def _decision(db: AsyncSession, principal: Principal, state: State, named: GateVerdict) -> Verdict:
    """The slow path's verdict, told what the gate named as admission tells it: admitted, flagged or not,
    or refused, with the detours it found on its way."""
    async with db.begin_nested() as savepoint:
        try:
            decided = await reservations.decide(
                db,
                principal,
                [reservations.HoldRequest(uuid.uuid4(), state.quote)],
                at=state.at,
                hold_for=HOLD_FOR,
                gate=named,
            )
        except BudgetRefusal as refusal:
            detours = frozenset(Detour(detour) for detour in refusal.detours)
            verdict = Verdict(named, False, admitted=False, flagged=False, detours=detours)
        else:
            held = decided.hold
            verdict = Verdict(named, False, admitted=True, flagged=held.flagged, detours=held.detours)
        await savepoint.rollback()
    return verdict


async def _ask(db: AsyncSession, member: User, zone: str, mode: str, state: State) -> Verdict:
    principal = _principal(member, zone)
    async with db.begin_nested() as world:
        await _set_up(db, member, mode, state)
        gate_wrote, named = await _gate_writes(db, member, principal, state)
        decided = await _decision(db, principal, state, named)
        await world.rollback()
    return replace(decided, gate_wrote=gate_wrote)


def _states(zone: str) -> list[State]:
    """Budget states across the month turn: before and after local midnight, the stored period October or
    November, lapsed holds or none, no cap / a cap with room / a spent cap, and quotes that fit with room,
    fit to the last ten-thousandth, or pass by one."""
    turn = _month_turn(zone)
    states = []
    top_up = Decimal("0.50")  # counted by both, or "exact" fails (the figures test covers no top-up)
    for at, stored, lapsed, cap, fit in itertools.product(
        (turn - timedelta(minutes=1), turn + timedelta(minutes=1)),
        (OCTOBER, NOVEMBER),
        (Decimal(0), Decimal("0.30")),
        (None, Decimal("50.00"), Decimal("0.01")),
        ("room", "exact", "over"),
    ):
        spent, live = Decimal("0.2500"), Decimal("0.1000")
        left = MONTHLY + top_up - spent - live - lapsed
        quote = {"room": Decimal("0.05"), "exact": left, "over": left + Decimal("0.0001")}[fit]
        states.append(State(at, stored, spent, live, lapsed, top_up, cap, quote))
    return states


# Every mode where the month turns at Sydney's midnight; hard mode where it turns at UTC's and LA's too.
@pytest.mark.parametrize(
    ("mode", "zone"), [*((mode, ZONES[0]) for mode in MODES), *(("hard", z) for z in ZONES[1:])]
)
async def test_the_gate_holds_exactly_what_the_decision_admits_plainly(
    db: AsyncSession, caplog: pytest.LogCaptureFixture, mode: str, zone: str
) -> None:
    member = await _member(db, zone)
    with caplog.at_level("WARNING", logger="donatello.budgets.reservations"):
        verdicts = [(state, await _ask(db, member, zone, mode, state)) for state in _states(zone)]

    disagreements = [
        (state, verdict) for state, verdict in verdicts if verdict.gate_wrote != verdict.plainly_admitted
    ]
    assert disagreements == []
    misnamed = [
        (state, verdict)
        for state, verdict in verdicts
        if verdict.gate.held != verdict.gate_wrote or not verdict.names_what_the_decision_found(state)
    ]
    assert misnamed == []
    assert caplog.messages == []  # the decision, told what the gate named, found it so every time
    # The table reaches both sides of the rule and every detour a budget row can take, named by the gate
    # and found by the decision, so agreement is not vacuous.
    assert {verdict.gate_wrote for _, verdict in verdicts} == {True, False}
    on_a_row = set(Detour) - {Detour.NO_BUDGET}
    assert set().union(*(verdict.detours for _, verdict in verdicts)) == on_a_row
    assert set().union(*(verdict.gate.detours for _, verdict in verdicts)) == on_a_row
    if mode == "hard":
        assert {verdict.admitted for _, verdict in verdicts} == {True, False}


MONEY = st.decimals(min_value=0, max_value=3, places=4)


@settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    spent=MONEY,
    live=MONEY,
    top_up=st.decimals(min_value=0, max_value=2, places=2),
    quote=st.decimals(min_value=Decimal("0.0001"), max_value=3, places=4),
    mode=st.sampled_from(MODES),
)
async def test_the_gate_and_the_decision_agree_on_any_figures_to_the_ten_thousandth(
    db: AsyncSession, spent: Decimal, live: Decimal, top_up: Decimal, quote: Decimal, mode: str
) -> None:
    zone = "Australia/Sydney"
    member = await _member(db, zone)
    at = _month_turn(zone) + timedelta(days=9)
    state = State(at, NOVEMBER, spent, live, Decimal(0), top_up, None, quote)

    verdict = await _ask(db, member, zone, mode, state)

    assert verdict.gate_wrote == verdict.plainly_admitted
    assert verdict.gate_wrote == (spent + live + quote <= MONTHLY + top_up)
    assert verdict.names_what_the_decision_found(state)


async def test_a_department_without_a_budget_is_neither_held_nor_admitted(db: AsyncSession) -> None:
    zone = "UTC"
    member = await _member(db, zone)
    principal = _principal(member, zone)
    state = State(
        _month_turn(zone), NOVEMBER, Decimal(0), Decimal(0), Decimal(0), Decimal(0), None, Decimal("0.05")
    )

    wrote, named = await _gate_writes(db, member, principal, state)

    assert (wrote, named.detours) == (False, frozenset({Detour.NO_BUDGET}))
    for told in (None, named):  # asked alone, or told why the gate stepped aside
        with pytest.raises(BudgetNotConfigured):
            await reservations.decide(
                db, principal, [reservations.HoldRequest(uuid.uuid4(), state.quote)], at=state.at, gate=told
            )


async def test_a_decision_told_a_reason_it_does_not_find_says_so_and_stands(
    db: AsyncSession, caplog: pytest.LogCaptureFixture
) -> None:
    """Told by the gate that a per-user cap applies where none is set (the two bodies drifted apart), the
    decision logs the disagreement and decides by its own reading: admitted, plainly."""
    zone = "Australia/Sydney"
    member = await _member(db, zone)
    at = _month_turn(zone) + timedelta(days=9)
    state = State(at, NOVEMBER, Decimal(0), Decimal(0), Decimal(0), Decimal(0), None, Decimal("0.05"))
    await _set_up(db, member, "hard", state)

    with caplog.at_level("WARNING", logger="donatello.budgets.reservations"):
        decided = await reservations.decide(
            db,
            _principal(member, zone),
            [reservations.HoldRequest(uuid.uuid4(), state.quote)],
            at=at,
            hold_for=HOLD_FOR,
            gate=GateVerdict(frozenset({Detour.PER_USER_CAP})),
        )

    assert (decided.hold.flagged, decided.hold.detours) == (False, frozenset())
    assert caplog.messages == [
        f"budget gate and decision disagree for department {member.department_id}: "
        "the gate named per_user_cap, the decision found nothing"
    ]
