"""The statements the budget's part of admission sends (``admission.hold_and_write``: the hold, the
generations and their audit rows), counted on the connection as the database receives them. A request that
plainly fits takes one statement; any other takes that statement — which locks the budget row and names
why it stepped aside — and then the decision's own."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets.errors import BudgetNotConfigured, BudgetRefusal
from donatello.generations import admission
from donatello.models import Generation, User
from tests.support import factories
from tests.support.ledger import admit, pending_generation, principal_of

NOV_10 = datetime(2026, 11, 10, 1, 0, tzinfo=UTC)  # 12:00 in Sydney
NOVEMBER = (date(2026, 11, 1), date(2026, 11, 30))
OCTOBER = (date(2026, 10, 1), date(2026, 10, 31))


@contextmanager
def _counted(db: AsyncSession) -> Iterator[list[str]]:
    seen: list[str] = []
    connection = db.sync_session.connection()

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(connection, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(connection, "before_cursor_execute", record)


async def _member(
    db: AsyncSession,
    *,
    mode: str = "hard",
    period: tuple[date, date] = NOVEMBER,
    cap: str | None = None,
    budget: bool = True,
    spent_before: str | None = None,
) -> User:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    if budget:
        row = await factories.budget(db, dept, monthly_aud="1.00", mode=mode, period=period)
        row.per_user_monthly_cap_aud = Decimal(cap) if cap is not None else None
    member = await factories.user(db, org, department=dept)
    await db.flush()
    if spent_before is not None:
        await admit(db, member, spent_before, at=NOV_10)
    return member


async def _hold_and_write(db: AsyncSession, member: User, amount: str) -> list[Generation]:
    generation = pending_generation(member)
    generation.reservation_aud = Decimal(amount)
    generation.created_at = generation.next_attempt_at = NOV_10
    return await admission.hold_and_write(
        db, principal_of(member), [generation], at=NOV_10, hold_for=timedelta(minutes=15)
    )


async def test_a_request_that_plainly_fits_is_one_statement(db: AsyncSession) -> None:
    member = await _member(db)

    with _counted(db) as statements:
        [admitted] = await _hold_and_write(db, member, "0.40")

    assert len(statements) == 1
    assert admitted.reservation_aud == Decimal("0.40")
    assert admitted.is_over_budget is False


@pytest.mark.parametrize(
    ("case", "statements"),
    [
        # the gate's statement; the locked read; the refusal counted; its audit event
        ("refused: hard, over budget", 4),
        # ... the pass-through counted and audited; the holds with the generation and its audit row
        ("flagged: soft, over budget", 5),
        # the gate's; the locked read; the user's spend; the holds with the generation
        ("a per-user cap applies", 5),
        # the gate's; the locked read; the period closed; its audit event; the holds with the generation
        # (the roll-over itself is flushed with the holds' statement)
        ("the period ended", 6),
        # the gate's, which found no budget row; the department looked up for the refusal (404 or not)
        ("no budget", 2),
    ],
)
async def test_a_request_that_does_not_plainly_fit_takes_the_gate_then_the_decision(
    db: AsyncSession, case: str, statements: int
) -> None:
    budgets: dict[str, dict[str, Any]] = {
        "refused: hard, over budget": {"spent_before": "0.90"},
        "flagged: soft, over budget": {"mode": "soft", "spent_before": "0.90"},
        "a per-user cap applies": {"cap": "50.00"},
        "the period ended": {"period": OCTOBER},
        "no budget": {"budget": False},
    }
    member = await _member(db, **budgets[case])

    with _counted(db) as sent, suppress(BudgetRefusal, BudgetNotConfigured):
        await _hold_and_write(db, member, "0.20")

    assert sent[0].startswith("WITH gate_verdict AS")
    assert len(sent) == statements, sent
