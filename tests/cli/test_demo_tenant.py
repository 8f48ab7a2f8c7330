"""`donatello seed-demo`: the Acme Corporation tenant a new installation can try things with."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import demo
from donatello.models import Department, DepartmentBudget, ModelProvider, Organization, User


async def test_the_demo_tenant_has_departments_budgets_one_user_per_role_and_priced_providers(
    db: AsyncSession,
) -> None:
    summary = await demo.seed_in(db, "Australia/Sydney")

    org = await db.get(Organization, summary.organization_id)
    assert org is not None and (org.name, org.domain) == ("Acme Corporation", "acme.com.au")
    departments = {
        d.code: d
        for d in (await db.execute(select(Department).where(Department.organization_id == org.id))).scalars()
    }
    assert set(departments) == {"MKTG", "ENGG", "SALES"}
    budgets = (
        await db.execute(select(DepartmentBudget).where(DepartmentBudget.organization_id == org.id))
    ).scalars()
    assert {b.department_id for b in budgets} == {d.id for d in departments.values()}
    users = {
        u.email: u for u in (await db.execute(select(User).where(User.organization_id == org.id))).scalars()
    }
    for role in ("org_admin", "dept_manager", "power_user", "standard_user", "finance"):
        assert users[f"{role}@acme.com.au"].role == role
    assert all(user.role != "super_admin" for user in users.values())  # no platform admin in a tenant
    platform = (await db.execute(select(Organization).where(Organization.is_platform))).scalar_one()
    [admin] = (await db.execute(select(User).where(User.organization_id == platform.id))).scalars()
    assert (admin.email, admin.role) == ("super_admin@donatello.example", "super_admin")
    assert platform.domain == "donatello.example" and platform.id != org.id
    for role in ("dept_manager", "standard_user", "power_user"):
        assert users[f"{role}@acme.com.au"].department_id == departments["MKTG"].id
    prices = (await db.execute(select(ModelProvider.cost_per_image_aud))).scalars().all()
    assert prices and all(price > 0 for price in prices)


async def test_seeding_twice_changes_nothing(db: AsyncSession) -> None:
    first = await demo.seed_in(db, "Australia/Sydney")
    second = await demo.seed_in(db, "Australia/Sydney")
    assert second.organization_id == first.organization_id
    assert second.created == 0
