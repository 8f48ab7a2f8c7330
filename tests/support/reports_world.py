"""Generated spend for report and export tests: two organizations (Sydney with DST, Perth without),
several departments and users, charges settled through the real ledger at instants around the Sydney
DST changes (5 April and 4 October 2026) and local midnights, refunds and corrections, a hard refusal
and soft over-budget admissions."""

from __future__ import annotations

import contextlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from donatello.budgets import settlement
from donatello.budgets.errors import BudgetExceeded
from donatello.models import CostEvent, Department, Organization, User
from tests.support import factories
from tests.support.ledger import admit, principal_of, settle

PRICES = ("0.0400", "0.0800", "0.1200", "0.1700", "0.0350")
WINDOWS = (
    (datetime(2026, 3, 28, tzinfo=UTC), datetime(2026, 4, 9, tzinfo=UTC)),  # Sydney DST ends 5 Apr
    (datetime(2026, 9, 29, tzinfo=UTC), datetime(2026, 10, 8, tzinfo=UTC)),  # Sydney DST starts 4 Oct
)


@dataclass
class World:
    orgs: list[Organization]
    departments: list[Department]
    members: dict[str, User] = field(default_factory=dict)  # role -> user of org 0 / dept 0
    outsider_department: Department | None = None


def _instants(rng: random.Random, count: int) -> list[datetime]:
    moments = []
    for start, end in WINDOWS:
        span = int((end - start).total_seconds())
        moments += [start + timedelta(seconds=rng.randrange(span)) for _ in range(count)]
        # around local midnights in Sydney (13:00/14:00 UTC) on the DST days themselves
        moments += [
            datetime(start.year, start.month, start.day, 12, 59, tzinfo=UTC) + timedelta(days=d, minutes=m)
            for d in (7, 8)
            for m in (0, 2, 61)
        ]
    return sorted(moments)


async def build(db: AsyncSession, *, per_window: int = 8) -> World:
    rng = random.Random(7)
    orgs: list[Organization] = []
    departments: list[Department] = []
    world = World(orgs=orgs, departments=departments)
    for zone in ("Australia/Sydney", "Australia/Perth"):
        org = await factories.organization(db)
        org.settings = {"timezone": zone}
        orgs.append(org)
        admin = await factories.user(db, org, role="org_admin")
        for index, mode in enumerate(("hard", "soft")):
            dept = await factories.department(db, org)
            departments.append(dept)
            budget = "300.00" if mode == "hard" else "0.50"
            await factories.budget(
                db, dept, monthly_aud=budget, mode=mode, period=(date(2026, 3, 1), date(2026, 3, 31))
            )
            people = [await factories.user(db, org, role="power_user", department=dept) for _ in range(2)]
            charges: list[CostEvent] = []
            for at in _instants(rng, per_window):
                member = rng.choice(people)
                price = rng.choice(PRICES)
                admission = await admit(db, member, price, at=at)
                charges.append(await settle(db, admission, price, at=at + timedelta(seconds=5)))
            for charge in rng.sample(charges, 6):
                at = charge.created_at + timedelta(hours=rng.randrange(1, 30))
                kind = rng.choice(("refund", "correction"))
                amount = (
                    Decimal("0.0100")
                    if kind == "refund"
                    else rng.choice((Decimal("-0.0050"), Decimal("0.0125")))
                )
                await settlement.amend(db, principal_of(admin), charge.id, amount, kind, "test", at=at)
            if index == 0 and not world.members:
                world.members["org_admin"] = admin
                for role in ("finance", "dept_manager", "standard_user"):
                    world.members[role] = await factories.user(db, org, role=role, department=dept)
    world.outsider_department = departments[2]
    # a hard refusal in org 0's first department
    poor = await factories.department(db, orgs[0])
    await factories.budget(
        db, poor, monthly_aud="0.05", mode="hard", period=(date(2026, 4, 1), date(2026, 4, 30))
    )
    spender = await factories.user(db, orgs[0], role="power_user", department=poor)
    with contextlib.suppress(BudgetExceeded):
        await admit(db, spender, "0.0800", at=datetime(2026, 4, 6, 3, tzinfo=UTC))
    departments.append(poor)
    await db.flush()
    return world


async def ledger_sum(
    db: AsyncSession,
    org: Organization,
    starts: datetime,
    ends: datetime,
    department: Department | None = None,
) -> Decimal:
    """The truth: a direct SQL sum over cost_events (refunds and corrections included)."""
    sql = "SELECT COALESCE(sum(actual_cost_aud), 0) FROM cost_events WHERE organization_id = :org AND created_at >= :s AND created_at < :e"
    params: dict[str, object] = {"org": org.id, "s": starts, "e": ends}
    if department is not None:
        sql += " AND department_id = :d"
        params["d"] = department.id
    return Decimal((await db.execute(text(sql), params)).scalar_one())


async def flat_charges(
    db: AsyncSession | AsyncConnection,
    organization_id: uuid.UUID,
    department_id: uuid.UUID,
    user_id: uuid.UUID,
    count: int,
) -> None:
    """``count`` generations each charged 0.0800, one second apart from 2026-04-01 00:00 UTC, written
    set-based (many rows fast; the ledger services are exercised elsewhere)."""
    params = {"o": organization_id, "d": department_id, "u": user_id, "n": count}
    await db.execute(
        text(
            "INSERT INTO generations (organization_id, user_id, department_id, model_provider, model_name,"
            " prompt_encrypted) SELECT :o, :u, :d, 'local', 'pillow-sketch', 'sealed' FROM generate_series(1, :n)"
        ),
        params,
    )
    await db.execute(
        text(
            "INSERT INTO cost_events (organization_id, generation_id, department_id, user_id, model_provider,"
            " model_name, estimated_cost_aud, actual_cost_aud, department_code, department_name, user_email,"
            " created_at) SELECT :o, id, :d, :u, 'local', 'pillow-sketch', 0.0800, 0.0800, 'X', 'X',"
            " 'x@example.com', timestamptz '2026-04-01 00:00+00' + (row_number() OVER ()) * interval '1 second'"
            " FROM generations WHERE organization_id = :o"
        ),
        params,
    )
