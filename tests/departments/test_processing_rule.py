"""A department created with a processing rule keeps it, says so and is audited with it; another
organization's admin cannot touch it (404)."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox
from tests.support import factories
from tests.support.signin import bearer_for


async def test_a_department_created_requiring_australia_keeps_the_rule_and_the_audit_says_so(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")

    created = await client.post(
        "/v1/departments",
        json={"name": "Health Research", "code": "HLTH", "require_processing_in": "AU"},
        headers=bearer_for(tokens, admin),
    )

    assert created.status_code == 201, created.text
    assert created.json()["require_processing_in"] == "AU"
    events = (
        await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "department.created"))
    ).scalars()
    [event] = [e for e in events if e.payload["resource_id"] == created.json()["id"]]
    assert event.payload["metadata"]["require_processing_in"] == "AU"


async def test_another_organizations_admin_cannot_lift_the_rule(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, other = await factories.organization(db), await factories.organization(db)
    dept = await factories.department(db, org)
    dept.require_processing_in = "AU"
    await db.flush()
    stranger = await factories.user(db, other, role="org_admin")

    attempt = await client.patch(
        f"/v1/departments/{dept.id}",
        json={"require_processing_in": None},
        headers=bearer_for(tokens, stranger),
    )

    assert attempt.status_code == 404
    await db.refresh(dept)
    assert dept.require_processing_in == "AU"
