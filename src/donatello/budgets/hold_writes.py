"""The writes of a budget hold: reservation rows inserted and the locked budget's reserved money raised in
one statement (data-modifying CTEs) — on its own (``hold``), or carried by the caller's statement
(``hold_ctes``) so the locked budget row waits on one round trip less, or decided and written by the
caller's statement itself when the request plainly fits (``hold_if_within_budget``)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import CTE, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from donatello.core import bulk
from donatello.models import BudgetReservation, DepartmentBudget


async def hold(
    session: AsyncSession, budget: DepartmentBudget, holds: Sequence[dict[str, Any]], amount: Decimal
) -> list[BudgetReservation]:
    """Insert the holds and add ``amount`` to the (locked) budget's reserved money in one statement (a
    data-modifying CTE) instead of a unit-of-work flush of each; the budget row in the session is kept
    equal to what was written."""
    if not holds:
        return []
    keys = tuple(holds[0])
    parameters = {
        **bulk.row_parameters(BudgetReservation, keys, holds),
        "budget_id": budget.id,
        "held": amount,
    }
    written = list((await session.scalars(_hold(keys, len(holds)), parameters)).all())
    set_committed_value(budget, "reserved_aud", budget.reserved_aud + amount)
    return written


@lru_cache(maxsize=64)
def _hold(keys: tuple[str, ...], count: int) -> Any:
    written = (
        bulk.insert_rows(BudgetReservation, keys, count).add_cte(_reserved()).returning(BudgetReservation)
    )
    return select(BudgetReservation).from_statement(written)  # the ORM loads the returned rows


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


def hold_ctes(
    budget: DepartmentBudget, holds: Sequence[dict[str, Any]], amount: Decimal
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """``hold``'s writes as CTEs (and their parameters) for another statement to carry: the caller's write
    and the hold then take one round trip while the budget row is locked. The caller keeps the budget
    row in the session equal to what was written (``held``) once the statement has run."""
    keys = tuple(holds[0])
    parameters = {
        **bulk.row_parameters(BudgetReservation, keys, holds),
        "budget_id": budget.id,
        "held": amount,
    }
    return _hold_ctes(keys, len(holds)), parameters


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
    """The holds as CTEs for the caller's statement, written only when the budget has nothing to decide
    but "it fits": its stored period is the current one (nothing to roll over), no hold has lapsed by
    ``at`` (nothing to sweep), no per-user cap applies, and spent + reserved + ``amount`` stays within the
    period's budget. The ``UPDATE`` that raises the reserved money checks all that on the row as
    committed when its lock is granted (PostgreSQL re-reads a row it waited for), so concurrent holds
    never pass the budget, and the row stays locked only from this statement to the commit.

    Returns the gate — that ``UPDATE``'s CTE, one row when it held and none otherwise — for the caller's
    own rows to be written only through it (``bulk.insert_rows_if``), the CTEs and their parameters.
    Any other case (and a department without a budget) writes nothing: the caller decides the slow way
    (``reservations.decide``), which refuses, flags, sweeps or rolls over exactly as before."""
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
    department_id = bindparam("gate_department_id", type_=DepartmentBudget.department_id.type)
    amount = bindparam("gate_amount", type_=DepartmentBudget.reserved_aud.type)
    lapsed = exists().where(
        BudgetReservation.department_id == department_id,
        BudgetReservation.status == "held",
        BudgetReservation.expires_at <= bindparam("gate_at", type_=BudgetReservation.expires_at.type),
    )
    budget = DepartmentBudget
    return (
        update(budget)
        .where(
            budget.department_id == department_id,
            budget.budget_period_start
            >= bindparam("gate_period_start", type_=budget.budget_period_start.type),
            budget.per_user_monthly_cap_aud.is_(None),
            budget.current_spend_aud + budget.reserved_aud + amount
            <= budget.monthly_budget_aud + budget.period_top_up_aud,
            ~lapsed,
        )
        .values(reserved_aud=budget.reserved_aud + amount)
        .returning(budget.id)
        .cte("within_budget")
    )
