"""Stories of an org admin and their staff managing departments through the API."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import AuditOutbox, Department
from tests.support import factories
from tests.support.signin import bearer_for

PROBLEM = "application/problem+json"


async def test_org_admin_creates_a_department_and_the_change_is_audited(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")

    response = await client.post(
        "/v1/departments", json={"name": "Marketing", "code": "MKTG"}, headers=bearer_for(tokens, admin)
    )

    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["code"], created["organization_id"]) == ("MKTG", str(org.id))
    events = (
        await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "department.created"))
    ).scalars()
    event = next(e for e in events if e.payload["resource_id"] == created["id"])
    assert event.organization_id == org.id
    assert event.user_id == admin.id
    assert event.payload["user_email"] == admin.email
    assert event.payload["request_id"] == response.headers["x-request-id"]


async def test_a_duplicate_code_is_a_conflict_and_writes_nothing(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    await factories.department(db, org, code="ENGG")
    outbox_before = len((await db.execute(select(AuditOutbox.id))).all())

    response = await client.post(
        "/v1/departments", json={"name": "Eng", "code": "ENGG"}, headers=bearer_for(tokens, admin)
    )

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"].endswith("/department-code-taken")
    assert response.json()["code"] == "ENGG"
    assert len((await db.execute(select(AuditOutbox.id))).all()) == outbox_before


async def test_invalid_input_is_a_422_problem_naming_each_field(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")

    response = await client.post(
        "/v1/departments",
        json={"name": "", "code": "not a code", "colour": "red"},
        headers=bearer_for(tokens, admin),
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    fields = {error["field"] for error in response.json()["errors"]}
    assert fields == {"body.name", "body.code", "body.colour"}


async def test_malformed_bodies_and_ids_are_4xx_never_500(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    headers = bearer_for(tokens, await factories.user(db, org, role="org_admin"))
    attempts = [
        client.post(
            "/v1/departments", content=b"{not json", headers={**headers, "content-type": "application/json"}
        ),
        client.post("/v1/departments", json=["a", "list"], headers=headers),
        client.post("/v1/departments", json={"name": "x" * 300, "code": "A"}, headers=headers),
        client.get("/v1/departments/not-a-uuid", headers=headers),
        client.get("/v1/departments?limit=0", headers=headers),
        client.get("/v1/departments?limit=abc", headers=headers),
        client.get("/v1/departments?cursor=%%%", headers=headers),
        client.get("/v1/departments?cursor=WzFd", headers=headers),
        client.patch(f"/v1/departments/{uuid.uuid4()}", json={"is_active": "perhaps"}, headers=headers),
        client.get("/v1/no-such-route", headers=headers),
    ]
    for attempt in attempts:
        response = await attempt
        assert 400 <= response.status_code < 500, (response.request.url, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == response.status_code


async def test_staff_who_are_not_admins_cannot_create_departments(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    for role in ("standard_user", "power_user", "dept_manager", "finance"):
        member = await factories.user(db, org, role=role)
        response = await client.post(
            "/v1/departments", json={"name": "X", "code": "X"}, headers=bearer_for(tokens, member)
        )
        assert response.status_code == 403, role
        assert response.json()["required_roles"] == ["org_admin"]


async def test_another_tenants_department_is_not_found(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, rival = await factories.organization(db), await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    theirs = await factories.department(db, rival)

    read = await client.get(f"/v1/departments/{theirs.id}", headers=bearer_for(tokens, admin))
    write = await client.patch(
        f"/v1/departments/{theirs.id}", json={"name": "Mine now"}, headers=bearer_for(tokens, admin)
    )
    listed = await client.get("/v1/departments", headers=bearer_for(tokens, admin))

    assert (read.status_code, write.status_code) == (404, 404)
    assert read.json() == {**read.json(), "type": "https://donatello.ai/problems/not-found"}
    assert str(theirs.id) not in listed.text
    unchanged = await db.get(Department, theirs.id, populate_existing=True)
    assert unchanged is not None and unchanged.name == theirs.name


async def test_listing_pages_through_departments_with_a_cursor(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org)
    codes = sorted(f"D{i:02d}" for i in range(7))
    for code in codes:
        await factories.department(db, org, code=code)

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/v1/departments", params=params, headers=bearer_for(tokens, member))).json()
        seen += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == codes


async def test_an_update_records_what_changed(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    dept = await factories.department(db, org, code="SALES")

    response = await client.patch(
        f"/v1/departments/{dept.id}",
        json={"name": "Sales APAC", "is_active": False},
        headers=bearer_for(tokens, admin),
    )

    assert response.status_code == 200
    assert (response.json()["name"], response.json()["is_active"]) == ("Sales APAC", False)
    event = (
        await db.execute(
            select(AuditOutbox).where(
                AuditOutbox.event_type == "department.updated", AuditOutbox.user_id == admin.id
            )
        )
    ).scalar_one()
    assert event.payload["metadata"]["changes"] == {
        "name": {"from": dept.name, "to": "Sales APAC"},
        "is_active": {"from": True, "to": False},
    }
