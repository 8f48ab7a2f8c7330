"""Reserving budget before a generation runs, and giving it back when it does not.

Admission holds in one of two ways, and only these: the gate (``hold_if_within_budget``: one statement that
locks the budget row and holds when no ``Detour`` applies, else names the detours that do) and, when the
gate writes nothing, the decision (``decide``: the same rule under that lock, told the gate's verdict,
every detour handled by name). A differential test (tests/budgets/test_gate_matches_decision.py) holds
them to one rule."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.budgets import holds_repository, repository
from donatello.budgets.account import Account, open_for_update, refuse_without_budget
from donatello.budgets.alerts import raise_alert
from donatello.budgets.errors import BudgetExceeded, BudgetRefusal, NoDepartment, UserCapExceeded
from donatello.budgets.holds_repository import Detour, Gate
from donatello.budgets.holds_repository import GateVerdict as GateVerdict  # admission names it
from donatello.budgets.periods import organization_timezone, period_at
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.models import BudgetReservation, DepartmentBudget
from donatello.tenancy import Principal

DEFAULT_HOLD = timedelta(minutes=15)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HoldRequest:
    generation_id: uuid.UUID
    amount_aud: Decimal


@dataclass(frozen=True)
class Hold:
    """What ``decide`` held: one reservation per generation, and how the budget decided. ``flagged``: admitted
    past the budget or past the user's cap (soft or warn), as each hold's ``is_over_budget`` records."""

    holds: list[BudgetReservation]
    enforcement_mode: str
    flagged: bool
    available_before_aud: Decimal
    detours: frozenset[Detour]

    @property
    def total_aud(self) -> Decimal:
        return sum((hold.amount_aud for hold in self.holds), Decimal(0))


@dataclass(frozen=True)
class PendingHold:
    """A hold decided under the budget lock (``decide``) whose rows the caller's own statement writes."""

    hold: Hold
    ctes: tuple[Any, ...]
    parameters: dict[str, Any]
    budget: DepartmentBudget
    amount: Decimal

    def written(self) -> None:
        """Call once the caller's statement carrying ``ctes`` has run."""
        holds_repository.held(self.budget, self.amount)


async def decide(
    session: AsyncSession,
    principal: Principal,
    requests: Sequence[HoldRequest],
    *,
    at: datetime,
    hold_for: timedelta = DEFAULT_HOLD,
    gate: GateVerdict | None = None,
) -> PendingHold:
    """Hold the quoted amounts on the principal's department budget, all or nothing — the way taken when
    the gate (``hold_if_within_budget``) wrote nothing; ``gate`` is its verdict (None when it was not
    asked, as for a batch). The rules are ``_decide``'s; the holds and the budget's reserved money come
    back as CTEs for the caller's statement, so the locked budget row waits on one round trip less.
    ``hold.holds`` are the rows to be written (with their ids)."""
    decision = await _decide(session, principal, requests, at, hold_for, gate)
    rows = [{**row, "id": uuid.uuid4()} for row in decision.rows]
    holds = [BudgetReservation(**row) for row in rows]
    if decision.flagged:
        await _record_pass_through(
            session, decision.account, principal, decision.quote, holds, over_budget=decision.over_budget
        )
    budget = decision.account.budget
    ctes, parameters = holds_repository.hold_ctes(budget, rows, decision.quote)
    return PendingHold(
        hold=Hold(
            holds, budget.enforcement_mode, decision.flagged, decision.available_before, decision.detours
        ),
        ctes=ctes,
        parameters=parameters,
        budget=budget,
        amount=decision.quote,
    )


@dataclass(frozen=True)
class _Decision:
    account: Account
    rows: list[dict[str, Any]]
    quote: Decimal
    over_budget: bool  # spent + reserved + quote passes what the period may spend
    flagged: bool  # admitted past the budget or past the user's cap
    available_before: Decimal
    detours: frozenset[Detour]  # why the gate would have stepped aside (empty: it would have held)


async def _decide(
    session: AsyncSession,
    principal: Principal,
    requests: Sequence[HoldRequest],
    at: datetime,
    hold_for: timedelta,
    gate: GateVerdict | None,
) -> _Decision:
    """Lock the budget, refuse (audited) or admit; the rows to hold when admitted.

    hard: refuse when spent + reserved + quote passes what the period may spend (``period_budget_aud``;
    the refusal is audited and nothing is held); soft: admit past it, flag the holds, audit the
    pass-through; warn: the same, and raise the period's "exceeded" alert once. A per-user cap, when the
    department sets one, is enforced the same way on the user's own spend. Lapsed holds never count: the
    account sweeps them (and rolls an ended period over) before deciding.

    This is one of the rule's two bodies: most requests never reach it, because the gate
    (``holds_repository.hold_if_within_budget``) holds them in SQL when no ``Detour`` applies. A new rule here
    (a frozen department, a per-model budget) must be a new ``Detour`` with its condition in the gate too,
    or it will not apply to most requests; the differential test fails until both agree.

    When the gate stepped aside it named why (``gate``) on the row it locked, so the decision does not wait
    for the lock and each detour it finds should be one the gate named (``GateVerdict.agrees_with``): a
    department without a budget is refused without reading anything else; a disagreement (the two bodies
    drifted apart) is logged, and the decision stands."""
    if principal.department_id is None:
        raise NoDepartment()
    if gate is not None and Detour.NO_BUDGET in gate.detours:
        await refuse_without_budget(session, principal.department_id)
    quote = sum((request.amount_aud for request in requests), Decimal(0))
    account = await open_for_update(session, principal.department_id, at)
    budget = account.budget
    over_budget = account.spent + account.reserved + quote > budget.period_budget_aud
    over_cap = await _over_user_cap(session, account, principal, quote, at)
    found = {
        Detour.PERIOD_ENDED: account.rolled_over,
        Detour.LAPSED_HOLDS: account.swept,
        Detour.PER_USER_CAP: budget.per_user_monthly_cap_aud is not None,
        Detour.OVER_BUDGET: over_budget,
    }
    detours = frozenset(detour for detour, applies in found.items() if applies)
    if gate is not None and not gate.agrees_with(detours):
        log.warning(
            "budget gate and decision disagree for department %s: the gate named %s, the decision found %s",
            principal.department_id,
            _named(gate.detours),
            _named(detours),
        )

    if budget.enforcement_mode == "hard" and (over_budget or over_cap is not None):
        refusal_id = await _record_refusal(session, account, principal, quote, over_budget=over_budget)
        metrics.budget_refused("budget" if over_budget else "user_cap")
        refusal: BudgetRefusal
        if over_budget:
            refusal = BudgetExceeded(
                account.department,
                budget.period_budget_aud,
                account.spent,
                account.reserved,
                quote,
                refusal_id,
            )
        else:
            assert over_cap is not None
            refusal = UserCapExceeded(account.department, over_cap.cap, over_cap.used, quote, refusal_id)
        refusal.detours = detours
        raise refusal

    flagged = over_budget or over_cap is not None
    rows = _hold_rows(principal, requests, account.period.start, at, hold_for, flagged=flagged)
    return _Decision(account, rows, quote, over_budget, flagged, account.available, detours)


def _named(detours: frozenset[Detour]) -> str:
    return ", ".join(sorted(detours)) or "nothing"


def _hold_rows(
    principal: Principal,
    requests: Sequence[HoldRequest],
    period_start: date,
    at: datetime,
    hold_for: timedelta,
    *,
    flagged: bool,
) -> list[dict[str, Any]]:
    return [
        {
            "organization_id": principal.organization_id,
            "department_id": principal.department_id,
            "user_id": principal.user_id,
            "generation_id": request.generation_id,
            "amount_aud": request.amount_aud,
            "status": "held",
            "is_over_budget": flagged,  # the column's name predates per-user caps: it records "flagged"
            "period_start": period_start,
            "expires_at": at + hold_for,
            "created_at": at,
        }
        for request in requests
    ]


@dataclass(frozen=True)
class GatedHold:
    """Holds for the caller's statement to write only if they plainly fit (``hold_if_within_budget``); the
    statement selects ``gate.verdict``'s row beside its own for ``verdict_of``."""

    gate: Gate
    ctes: tuple[Any, ...]
    parameters: dict[str, Any]
    expires_at: datetime


def hold_if_within_budget(
    principal: Principal,
    requests: Sequence[HoldRequest],
    *,
    at: datetime,
    hold_for: timedelta = DEFAULT_HOLD,
) -> GatedHold:
    """The hold ``decide`` would make when no ``Detour`` applies — the period is current, no hold has
    lapsed, no per-user cap applies and the quote fits what the period may spend — as CTEs the caller's
    statement carries, with the gate its own rows go through (``holds_repository.hold_if_within_budget``).
    When the statement writes nothing, the caller asks ``decide``: the same rules, the slow way."""
    if principal.department_id is None:
        raise NoDepartment()
    period = period_at(at, organization_timezone({"timezone": principal.organization_timezone}))
    rows = [
        {**row, "id": uuid.uuid4()}
        for row in _hold_rows(principal, requests, period.start, at, hold_for, flagged=False)
    ]
    gate, ctes, parameters = holds_repository.hold_if_within_budget(
        rows,
        sum((request.amount_aud for request in requests), Decimal(0)),
        department_id=principal.department_id,
        period_start=period.start,
        at=at,
    )
    return GatedHold(gate, ctes, parameters, at + hold_for)


def verdict_of(row: Mapping[str, Any] | None) -> GateVerdict:
    """What the gate's statement decided, from its verdict row (None: there was none): held, or why not."""
    return holds_repository.verdict_of(row)


async def release(
    session: AsyncSession, generation_id: uuid.UUID, reason: str, *, at: datetime | None = None
) -> bool:
    """Give a generation's held money back (failure, cancellation); no charge. Idempotent: False when
    there was nothing held any more (already settled, released or expired)."""
    at = at or utcnow()
    hold = await repository.reservation_for(session, generation_id, lock=False)
    if hold is None:
        return False
    account = await open_for_update(session, hold.department_id, at)  # budget lock first, then the hold
    hold = await repository.reservation_for(session, generation_id, lock=True)
    if hold is None or hold.status != "held":
        return False
    hold.status, hold.closed_at = "released", at
    account.budget.reserved_aud -= hold.amount_aud
    await session.flush()
    await audit.record_event(
        session,
        "budget.reservation_released",
        action="reservation_released",
        resource=("generation", generation_id),
        organization_id=hold.organization_id,
        actor=audit.Actor(hold.user_id),
        details={"department_id": hold.department_id, "amount_aud": hold.amount_aud, "reason": reason},
    )
    return True


async def extend(session: AsyncSession, generation_id: uuid.UUID, until: datetime) -> bool:
    """Keep a hold alive while its generation is still running (worker heartbeat)."""
    hold = await repository.reservation_for(session, generation_id, lock=True)
    if hold is None or hold.status != "held" or hold.expires_at >= until:
        return hold is not None and hold.status == "held"
    hold.expires_at = until
    await session.flush()
    return True


@dataclass(frozen=True)
class CapUse:
    cap: Decimal  # the user's cap this period: the department's cap plus their approved top-ups
    used: Decimal  # spent in the period plus held now


async def _over_user_cap(
    session: AsyncSession, account: Account, principal: Principal, quote: Decimal, at: datetime
) -> CapUse | None:
    """The user's cap and usage when the request would pass their cap, else None."""
    cap = account.budget.per_user_monthly_cap_aud
    if cap is None:
        return None
    used = await repository.user_usage(session, account.department.id, principal.user_id, account.period, at)
    if used + quote <= cap:
        return None
    cap += await repository.user_cap_top_ups(
        session, account.department.id, principal.user_id, account.period
    )
    return CapUse(cap, used) if used + quote > cap else None


def _figures(account: Account, quote: Decimal) -> dict[str, object]:
    return {
        "department_id": account.department.id,
        "department_code": account.department.code,
        "enforcement_mode": account.budget.enforcement_mode,
        "budget_aud": account.budget.period_budget_aud,
        "spent_aud": account.spent,
        "reserved_aud": account.reserved,
        "quote_aud": quote,
        "period_start": account.period.start,
    }


async def _record_refusal(
    session: AsyncSession, account: Account, principal: Principal, quote: Decimal, *, over_budget: bool
) -> uuid.UUID:
    """Count and audit the refusal; its event id is the ``refusal_id`` a client quotes to ask for more."""
    await repository.count_decision(session, account.budget, account.period.start, refused=True)
    event = audit.event(
        "budget.request_refused",
        action="budget_refused" if over_budget else "user_cap_refused",
        resource=("department_budget", account.budget.id),
        organization_id=principal.organization_id,
        actor=principal,
        status="failure",
        error="budget exceeded" if over_budget else "per-user cap exceeded",
        details=_figures(account, quote),
    )
    await audit.record(session, event)
    return event.id


async def _record_pass_through(
    session: AsyncSession,
    account: Account,
    principal: Principal,
    quote: Decimal,
    holds: list[BudgetReservation],
    *,
    over_budget: bool,
) -> None:
    """Count and audit a flagged admission: past the budget (``over_budget``) or else past the user's cap."""
    mode = account.budget.enforcement_mode
    await repository.count_decision(session, account.budget, account.period.start, refused=False)
    await audit.record_event(
        session,
        f"budget.{mode}_limit_passed",
        action="over_budget_admitted" if over_budget else "over_user_cap_admitted",
        resource=("department_budget", account.budget.id),
        organization_id=principal.organization_id,
        actor=principal,
        details={**_figures(account, quote), "generation_ids": [h.generation_id for h in holds]},
    )
    if mode == "warn" and over_budget:
        await raise_alert(session, account.budget, 100, at=holds[0].created_at)
