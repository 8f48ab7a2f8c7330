"""Every state change is audited: each mutating route in the OpenAPI document, called as a user would,
writes exactly one audit event in its organization. Routes added later are covered automatically — a
new mutating route fails this test until it has an example request below."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.database import set_platform_scope
from donatello.models import AuditOutbox, Organization, User
from tests import factories

MUTATING = {"post", "put", "patch", "delete"}


async def _department_id(db: AsyncSession, org: Organization) -> str:
    return str((await factories.department(db, org)).id)


#: (method, path) -> (path parameters to create, request body). Every mutating route needs one.
PathParams = dict[str, Callable[[AsyncSession, Organization], Any]]
EXAMPLES: dict[tuple[str, str], tuple[PathParams, Callable[[], dict[str, Any] | None]]] = {
    ("post", "/v1/departments"): ({}, lambda: {"name": "Legal", "code": f"L{uuid.uuid4().hex[:6].upper()}"}),
    ("patch", "/v1/departments/{department_id}"): (
        {"department_id": _department_id},
        lambda: {"name": "Renamed"},
    ),
}


async def test_every_mutating_route_records_exactly_one_audit_event(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in MUTATING and path.startswith("/v1/")
    ]
    assert routes, "the OpenAPI document lists no mutating routes"
    missing = [f"{m.upper()} {p}" for m, p in routes if (m, p) not in EXAMPLES]
    assert missing == [], f"add an example request to EXAMPLES for: {missing}"

    for method, path in routes:
        org = await factories.organization(db)
        admin: User = await factories.user(db, org, role="org_admin")
        params, body = EXAMPLES[(method, path)]
        values = {name: await make(db, org) for name, make in params.items()}
        url = path.format(**values)
        before = await _events(db, org)

        response = await client.request(
            method.upper(),
            url,
            json=body(),
            headers={"Authorization": f"Bearer {tokens.issue(admin.id, admin.organization_id)}"},
        )

        assert response.is_success, f"{method.upper()} {path}: {response.status_code} {response.text}"
        assert await _events(db, org) == before + 1, f"{method.upper()} {path} must record one audit event"


async def _events(db: AsyncSession, org: Organization) -> int:
    await set_platform_scope(db)
    return int(await db.scalar(select(func.count()).where(AuditOutbox.organization_id == org.id)) or 0)
