"""The writes of a budget hold, as data-modifying CTEs the caller's statement carries (admission writes its
generations and their audit rows in the same statement): after the budget decided under its lock
(``hold_ctes``), or decided by the statement itself when the request plainly fits
(``hold_if_within_budget``, the gate). ``Detour`` names each reason the gate steps aside; the gate's
statement returns the ones that applied (``GateVerdict``), and the decision (``reservations.decide``)
handles every one of them by name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, bindparam, exists, select, update
from sqlalchemy.orm.attributes import set_committed_value

from donatello.core import bulk
from donatello.models import BudgetReservation, DepartmentBudget


class Detour(StrEnum):
    """Why a request cannot be held by the gate alone: the budget has something to decide or to do. The
    gate names every one that applies (``GateVerdict``); the decision handles each by name."""

    NO_BUDGET = "no_budget"  # the department has no budget row: nothing to hold against
    PERIOD_ENDED = "period_ended"  # the stored period is over: close it and start the current one
    LAPSED_HOLDS = "lapsed_holds"  # holds have lapsed: expire them (and audit it) first
    PER_USER_CAP = "per_user_cap"  # the user's own spend this period must be read and checked
    OVER_BUDGET = "over_budget"  # refuse (hard) or admit flagged (soft, warn)


#: what the stored period must do before anything is decided: its figures change on the way
HOUSEKEEPING = frozenset({Detour.PERIOD_ENDED, Detour.LAPSED_HOLDS})


@dataclass(frozen=True)
class GateVerdict:
    """What the gate's statement found on the budget row it locked: it held (no detour), or every reason
    it stepped aside for. ``OVER_BUDGET`` is read on the row as stored: after ``HOUSEKEEPING`` (a new
    period, lapsed holds swept) the figures differ and only the decision can tell."""

    detours: frozenset[Detour]

    @property
    def held(self) -> bool:
        return not self.detours

    def agrees_with(self, decided: frozenset[Detour]) -> bool:
        """Whether the decision found (``decided``) the detours the gate named: the same housekeeping and
        per-user cap, and over budget alike unless housekeeping changed the figures the gate read."""
        if self.detours & HOUSEKEEPING:
            return self.detours - {Detour.OVER_BUDGET} == decided - {Detour.OVER_BUDGET}
        return self.detours == decided


def hold_ctes(
    budget: DepartmentBudget, holds: Sequence[dict[str, Any]], amount: Decimal
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The decided holds' writes as CTEs (and their parameters) for another statement to carry: the rows
    inserted and the locked budget's reserved money raised, in one round trip with the caller's write.
    The caller keeps the budget row in the session equal to what was written (``held``) once the
    statement has run."""
    keys = tuple(holds[0])
    parameters = {
        **bulk.row_parameters(BudgetReservation, keys, holds),
        "budget_id": budget.id,
        "held": amount,
    }
    return _hold_ctes(keys, len(holds)), parameters


@lru_cache(maxsize=1)
def _reserved() -> Any:
    return (
        update(DepartmentBudget)
        .where(DepartmentBudget.id == bindparam("budget_id"))
        .values(
            reserved_aud=DepartmentBudget.reserved_aud
            + bindparam("held", type_=DepartmentBudget.reserved_aud.type)
        )
        .returning(DepartmentBudget.id)
        .cte("reserved")
    )


@lru_cache(maxsize=64)
def _hold_ctes(keys: tuple[str, ...], count: int) -> tuple[Any, ...]:
    written = bulk.insert_rows(BudgetReservation, keys, count).returning(BudgetReservation.id).cte("held")
    return (_reserved(), written)


def held(budget: DepartmentBudget, amount: Decimal) -> None:
    """The session's budget row after ``hold_ctes``' statement ran (it added ``amount`` to reserved)."""
    set_committed_value(budget, "reserved_aud", budget.reserved_aud + amount)


@dataclass(frozen=True)
class Gate:
    """The gate's two CTEs: ``verdict`` locks the budget row and names the detours that apply (one boolean
    column per ``Detour``, no row without a budget); ``held`` raises its reserved money, one row when it
    did and none otherwise, for the caller's own rows to be written only through it."""

    held: CTE
    verdict: CTE


def hold_if_within_budget(
    holds: Sequence[dict[str, Any]],
    amount: Decimal,
    *,
    department_id: uuid.UUID,
    period_start: date,
    at: datetime,
) -> tuple[Gate, tuple[Any, ...], dict[str, Any]]:
    """The holds as CTEs for the caller's statement, written only when no ``Detour`` applies — the budget has
    nothing to decide but "it fits": its stored period is the current one (nothing to roll over), no hold
    has lapsed by ``at`` (nothing to sweep), no per-user cap applies, and spent + reserved + ``amount``
    stays within what the period may spend (``period_budget_aud``). The statement locks the budget row
    first and reads those conditions on the row as committed when the lock is granted (PostgreSQL re-reads
    a row it waited for), so concurrent holds never pass the budget, what it names is still true when the
    decision runs, and the row stays locked only from this statement to the commit.

    Returns the ``Gate`` (the caller's statement selects ``gate.verdict`` beside its own rows, for
    ``verdict_of``), the CTEs and their parameters. When it steps aside, nothing is written: the caller
    decides the slow way (``reservations.decide``), which handles each named detour."""
    keys = tuple(holds[0])
    parameters = {
        **bulk.row_parameters(BudgetReservation, keys, holds),
        "gate_department_id": department_id,
        "gate_period_start": period_start,
        "gate_at": at,
        "gate_amount": amount,
    }
    gate, written = _gated(keys, len(holds))
    return gate, (gate.verdict, gate.held, written), parameters


def verdict_of(row: Mapping[str, Any] | None) -> GateVerdict:
    """The gate's verdict from the row its statement selected of ``gate.verdict`` (None: it had no row)."""
    if row is None:
        return GateVerdict(frozenset({Detour.NO_BUDGET}))
    return GateVerdict(frozenset(detour for detour in _CONDITIONS if row[detour.value]))


@lru_cache(maxsize=64)
def _gated(keys: tuple[str, ...], count: int) -> tuple[Gate, CTE]:
    gate = _gate()
    written = bulk.insert_rows_if(BudgetReservation, keys, count, gate.held).returning(BudgetReservation.id)
    return gate, written.cte("gated_held")


@lru_cache(maxsize=1)
def _gate() -> Gate:
    budget = DepartmentBudget
    detours = _detours()
    verdict = (
        select(budget.id, *(applies.label(detour.value) for detour, applies in detours.items()))
        .where(budget.department_id == _department())
        .with_for_update()
        .cte("gate_verdict")
    )
    held = (
        update(budget)
        .where(budget.id == verdict.c.id, *(~verdict.c[detour.value] for detour in detours))
        .values(reserved_aud=budget.reserved_aud + _amount())
        .returning(budget.id)
        .cte("within_budget")
    )
    return Gate(held=held, verdict=verdict)


def _department() -> Any:
    return bindparam("gate_department_id", type_=DepartmentBudget.department_id.type)


def _amount() -> Any:
    return bindparam("gate_amount", type_=DepartmentBudget.reserved_aud.type)


#: the detours the gate reads on a budget row (``NO_BUDGET`` is the row's absence)
_CONDITIONS = tuple(detour for detour in Detour if detour is not Detour.NO_BUDGET)


def _detours() -> dict[Detour, ColumnElement[bool]]:
    """The gate's conditions, one per ``Detour`` it reads on the row: each true when its detour applies."""
    budget = DepartmentBudget
    lapsed = exists().where(
        BudgetReservation.department_id == _department(),
        BudgetReservation.status == "held",
        BudgetReservation.expires_at <= bindparam("gate_at", type_=BudgetReservation.expires_at.type),
    )
    return {
        Detour.PERIOD_ENDED: budget.budget_period_start
        < bindparam("gate_period_start", type_=budget.budget_period_start.type),
        Detour.LAPSED_HOLDS: lapsed,
        Detour.PER_USER_CAP: budget.per_user_monthly_cap_aud.is_not(None),
        Detour.OVER_BUDGET: budget.current_spend_aud + budget.reserved_aud + _amount()
        > budget.period_budget_aud,
    }
