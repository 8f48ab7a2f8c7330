"""A ledger whose people typed text that starts like spreadsheet formulas: a department named
``=HYPERLINK(…)``, an e-mail address starting with ``@``, a refund for ``+SUM(1)`` and corrections whose
reasons start with a tab and a carriage return — for the tests that every CSV we write makes them inert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.budgets import settlement
from donatello.exports import files as exports
from donatello.models import Department, User
from tests.support import factories
from tests.support.ledger import admit, flat_quote, principal_of

AT = datetime(2026, 4, 14, 2, tzinfo=UTC)
HYPERLINK = '=HYPERLINK("http://x","y")'
SUM = "+SUM(1)"
TABBED = "\tcmd|' /C calc'!A0"
RETURNED = "\r=1+1"


async def hostile_ledger(db: AsyncSession) -> tuple[exports.ExportRange, User, Department]:
    """A charge by ``@evil.example``-style e-mail in a department named like a formula, refunded for
    ``+SUM(1)`` and corrected twice with reasons that start with a tab and a carriage return."""
    org = await factories.organization(db)
    dept = await factories.department(db, org, code="MKTG")
    dept.name = HYPERLINK
    await factories.budget(db, dept, monthly_aud="100.00", period=(date(2026, 4, 1), date(2026, 4, 30)))
    admin = await factories.user(db, org, role="org_admin")
    member = await factories.user(db, org, role="power_user", department=dept)
    member.email = f"@{member.email}"
    await db.flush()
    admission = await admit(db, member, "0.1200", at=AT)
    charge = await settlement.settle(
        db, admission.holds[0].generation_id, flat_quote("0.0400", images=3), at=AT + timedelta(seconds=5)
    )
    for minutes, amount, kind, reason in (
        (60, "0.0400", "refund", SUM),
        (61, "-0.0050", "correction", TABBED),
        (62, "0.0010", "correction", RETURNED),
    ):
        await settlement.amend(
            db,
            principal_of(admin),
            charge.id,
            Decimal(amount),
            kind,
            reason,
            at=AT + timedelta(minutes=minutes),
        )
    rng = exports.ExportRange(
        org.id, org.name, "Australia/Sydney", datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC),
        None, "csv",
    )  # fmt: skip
    return rng, admin, dept
