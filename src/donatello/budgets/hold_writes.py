"""The writes of a budget hold: reservation rows inserted and the locked budget's reserved money raised in
one statement (data-modifying CTEs) — on its own (``hold``), or carried by the caller's statement
(``hold_ctes``) so the locked budget row waits on one round trip less."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, select, update
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
