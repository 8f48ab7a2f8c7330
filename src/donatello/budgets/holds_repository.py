"""The writes of a budget hold, as data-modifying CTEs the caller's statement carries (admission writes its
generations and their audit rows in the same statement): after the budget decided under its lock
(``hold_ctes``), or decided by the statement itself when the request plainly fits
(``hold_if_within_budget``, the gate). ``Detour`` names each reason the gate steps aside; the decision
(``reservations.decide``) handles every one of them by name."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, ColumnElement, bindparam, exists, update
from sqlalchemy.orm.attributes import set_committed_value

from donatello.core import bulk
from donatello.models import BudgetReservation, DepartmentBudget


class Detour(StrEnum):
    """Why a request cannot be held by the gate alone: the budget has something to decide or to do."""

    PERIOD_ENDED = "period_ended"  # the stored period is over: close it and start the current one
    LAPSED_HOLDS = "lapsed_holds"  # holds have lapsed: expire them (and audit it) first
    PER_USER_CAP = "per_user_cap"  # the user's own spend this period must be read and checked
    OVER_BUDGET = "over_budget"  # refuse (hard) or admit flagged (soft, warn)


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


def hold_if_within_budget(
    holds: Sequence[dict[str, Any]],
    amount: Decimal,
    *,
    department_id: uuid.UUID,
    period_start: date,
    at: datetime,
) -> tuple[CTE, tuple[Any, ...], dict[str, Any]]:
    """The holds as CTEs for the caller's statement, written only when no ``Detour`` applies — the budget has
    nothing to decide but "it fits": its stored period is the current one (nothing to roll over), no hold
    has lapsed by ``at`` (nothing to sweep), no per-user cap applies, and spent + reserved + ``amount``
    stays within what the period may spend (``period_budget_aud``). The ``UPDATE`` that raises the reserved
    money checks all that on the row as committed when its lock is granted (PostgreSQL re-reads a row it
    waited for), so concurrent holds never pass the budget, and the row stays locked only from this
    statement to the commit.

    Returns the gate — that ``UPDATE``'s CTE, one row when it held and none otherwise — for the caller's
    own rows to be written only through it (``bulk.insert_rows_if``), the CTEs and their parameters.
    Any other case (and a department without a budget) writes nothing: the caller decides the slow way
    (``reservations.decide``), which names the detours it took and handles each."""
    keys = tuple(holds[0])
    parameters = {
        **bulk.row_parameters(BudgetReservation, keys, holds),
        "gate_department_id": department_id,
        "gate_period_start": period_start,
        "gate_at": at,
        "gate_amount": amount,
    }
    gate, written = _gated(keys, len(holds))
    return gate, (gate, written), parameters


@lru_cache(maxsize=64)
def _gated(keys: tuple[str, ...], count: int) -> tuple[CTE, CTE]:
    gate = _within_budget()
    written = bulk.insert_rows_if(BudgetReservation, keys, count, gate).returning(BudgetReservation.id)
    return gate, written.cte("gated_held")


@lru_cache(maxsize=1)
def _within_budget() -> CTE:
    return (
        update(DepartmentBudget)
        .where(
            DepartmentBudget.department_id == _department(),
            *_no_detour().values(),
        )
        .values(reserved_aud=DepartmentBudget.reserved_aud + _amount())
        .returning(DepartmentBudget.id)
        .cte("within_budget")
    )


def _department() -> Any:
    return bindparam("gate_department_id", type_=DepartmentBudget.department_id.type)


def _amount() -> Any:
    return bindparam("gate_amount", type_=DepartmentBudget.reserved_aud.type)


def _no_detour() -> dict[Detour, ColumnElement[bool]]:
    """The gate's conditions, one per ``Detour``: each holds when that reason does not apply."""
    budget = DepartmentBudget
    lapsed = exists().where(
        BudgetReservation.department_id == _department(),
        BudgetReservation.status == "held",
        BudgetReservation.expires_at <= bindparam("gate_at", type_=BudgetReservation.expires_at.type),
    )
    return {
        Detour.PERIOD_ENDED: budget.budget_period_start
        >= bindparam("gate_period_start", type_=budget.budget_period_start.type),
        Detour.LAPSED_HOLDS: ~lapsed,
        Detour.PER_USER_CAP: budget.per_user_monthly_cap_aud.is_(None),
        Detour.OVER_BUDGET: budget.current_spend_aud + budget.reserved_aud + _amount()
        <= budget.period_budget_aud,
    }
