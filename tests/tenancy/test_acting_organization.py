"""A platform admin acts on another organization only through the declared ``organization_id``; a
parameter an operation does not declare is refused, never silently ignored."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import Department
from tests.support import factories
from tests.support.signin import bearer_for


async def test_a_platform_admin_reads_and_changes_the_organization_they_name(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    home, other = await factories.organization(db), await factories.organization(db)
    await factories.department(db, other, code="OTHR")
    admin = await factories.user(db, home, role="super_admin")

    report = await client.get(
        "/v1/reports/organization",
        params={"organization_id": str(other.id)},
        headers=bearer_for(tokens, admin),
    )
    created = await client.post(
        "/v1/departments",
        params={"organization_id": str(other.id)},
        json={"name": "Legal", "code": "LGL"},
        headers=bearer_for(tokens, admin),
    )
    users = await client.get(
        "/v1/users", params={"organization_id": str(other.id)}, headers=bearer_for(tokens, admin)
    )

    assert report.status_code == 200, report.text
    assert report.json()["organization_id"] == str(other.id)
    assert [d["department_code"] for d in report.json()["departments"]] == ["OTHR"]
    assert created.status_code == 201, created.text
    stored = (await db.execute(select(Department).where(Department.code == "LGL"))).scalar_one()
    assert stored.organization_id == other.id
    assert users.status_code == 200 and users.json()["items"] == []


async def test_naming_another_organization_is_not_found_for_anyone_else(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    home, other = await factories.organization(db), await factories.organization(db)
    admin = await factories.user(db, home, role="org_admin")
    platform = await factories.user(db, home, role="super_admin")

    for path in ("/v1/reports/organization", "/v1/users", "/v1/audit-events"):
        response = await client.get(
            path, params={"organization_id": str(other.id)}, headers=bearer_for(tokens, admin)
        )
        assert response.status_code == 404, (path, response.text)
    own = await client.get(
        "/v1/reports/organization",
        params={"organization_id": str(home.id)},
        headers=bearer_for(tokens, admin),
    )
    assert own.status_code == 200
    missing = await client.get(
        "/v1/reports/organization",
        params={"organization_id": "00000000-0000-0000-0000-000000000001"},
        headers=bearer_for(tokens, platform),
    )
    assert missing.status_code == 404


async def test_an_undeclared_query_parameter_is_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="super_admin")

    misspelled = await client.get(
        "/v1/reports/organization", params={"organisation_id": str(org.id)}, headers=bearer_for(tokens, admin)
    )
    unsupported = await client.post(
        "/v1/api-keys",
        params={"user_id": str(admin.id)},
        json={"name": "k", "scopes": ["generations:create"]},
        headers=bearer_for(tokens, admin),
    )

    for response, name in ((misspelled, "organisation_id"), (unsupported, "user_id")):
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["errors"][0]["field"] == f"query.{name}"
