"""Row-level security is the second wall: connected as the application role with tenant A set, tenant B's
rows are invisible in every tenant table and cannot be written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import CursorResult, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.core.database import set_platform_scope, set_tenant
from donatello.models import TENANT_TABLES
from tests.support import factories


async def test_connections_act_as_the_application_role_which_cannot_bypass_rls(db: AsyncSession) -> None:
    row = (
        await db.execute(
            text(
                "SELECT current_user, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user"
            )
        )
    ).one()
    assert tuple(row) == ("donatello_app", False, False)


async def test_tenant_a_cannot_see_tenant_b_rows_in_any_tenant_table(db: AsyncSession) -> None:
    org_a, org_b = await factories.organization(db), await factories.organization(db)
    await factories.tenant_world(db, org_a)
    await factories.tenant_world(db, org_b)

    await set_tenant(db, org_a.id)
    for table in TENANT_TABLES:
        visible = (await db.execute(text(f"SELECT DISTINCT organization_id FROM {table}"))).scalars().all()
        assert visible == [org_a.id], f"{table} shows {visible}"
    organizations = (await db.execute(text("SELECT id FROM organizations"))).scalars().all()
    assert organizations == [org_a.id]


async def test_tenant_a_cannot_insert_rows_for_tenant_b(db: AsyncSession) -> None:
    org_a, org_b = await factories.organization(db), await factories.organization(db)
    await factories.tenant_world(db, org_a)
    ids_b = await factories.tenant_world(db, org_b)
    rows_b = {
        table: (
            await db.execute(
                text(f"SELECT to_jsonb(t) FROM {table} t WHERE id = :id"),
                {"id": ids_b[table]},
            )
        ).scalar_one()
        for table in TENANT_TABLES
    }

    await set_tenant(db, org_a.id)
    for table, row in rows_b.items():
        row = dict(row)
        if table == "audit_outbox":
            row.pop("id")
            row["event_id"] = "00000000-0000-4000-8000-000000000001"
            insert = "INSERT INTO audit_outbox ({cols}) SELECT {cols} FROM jsonb_populate_record(NULL::audit_outbox, :row)"
            columns = ", ".join(row)
            statement = insert.format(cols=columns)
        else:
            row["id"] = "00000000-0000-4000-8000-000000000002"
            statement = f"INSERT INTO {table} SELECT * FROM jsonb_populate_record(NULL::{table}, :row)"
        with pytest.raises(DBAPIError, match="row-level security"):
            async with db.begin_nested():
                await db.execute(text(statement), {"row": json.dumps(row)})


async def test_tenant_a_cannot_update_or_delete_tenant_b_rows(db: AsyncSession) -> None:
    org_a, org_b = await factories.organization(db), await factories.organization(db)
    dept_b = await factories.department(db, org_b)

    await set_tenant(db, org_a.id)
    renamed = await db.execute(
        text("UPDATE departments SET name = 'stolen' WHERE id = :id"), {"id": dept_b.id}
    )
    deleted = await db.execute(text("DELETE FROM departments WHERE id = :id"), {"id": dept_b.id})
    assert isinstance(renamed, CursorResult) and isinstance(deleted, CursorResult)  # they count rows
    assert (renamed.rowcount, deleted.rowcount) == (0, 0)

    await set_platform_scope(db)
    name = (
        await db.execute(text("SELECT name FROM departments WHERE id = :id"), {"id": dept_b.id})
    ).scalar_one()
    assert name == dept_b.name


async def test_a_transaction_that_names_no_tenant_sees_no_tenant_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as setup:  # committed, so any other transaction could see it
        await setup.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
        org_id = (
            await setup.execute(
                text(
                    "INSERT INTO organizations (name, domain) VALUES ('Unnamed', 'no-tenant-test.com.au') RETURNING id"
                )
            )
        ).scalar_one()
        await setup.execute(
            text("INSERT INTO departments (organization_id, name, code) VALUES (:org, 'Ops', 'OPS')"),
            {"org": org_id},
        )
    try:
        async with engine.begin() as unnamed:
            for table in ("organizations", "departments"):
                count = (await unnamed.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one()
                assert count == 0, table
            await unnamed.execute(
                text("SELECT set_config('app.organization_id', :org, true)"), {"org": str(org_id)}
            )
            named = (await unnamed.execute(text("SELECT count(*) FROM departments"))).scalar_one()
            assert named == 1
    finally:
        async with engine.begin() as cleanup:
            await cleanup.execute(text("SELECT set_config('app.platform_scope', 'on', true)"))
            await cleanup.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org_id})


async def test_every_tenant_policy_reads_the_tenant_once_per_query(db: AsyncSession) -> None:
    """A policy calling current_setting() directly runs it for every row a query touches (a year of a
    department's rollups read twice as slowly); the scalar-subquery form is computed once (an InitPlan).
    A new tenant table whose policy was copied from an old migration fails here."""
    policies = (
        await db.execute(
            text("SELECT tablename, qual, with_check FROM pg_policies WHERE policyname = 'tenant_isolation'")
        )
    ).all()
    assert {row.tablename for row in policies} >= {*TENANT_TABLES, "organizations"}
    per_row = [
        row.tablename
        for row in policies
        for expression in (row.qual, row.with_check)
        if expression.count("current_setting(") != expression.count("SELECT ")  # each inside a subquery
    ]
    assert per_row == []
