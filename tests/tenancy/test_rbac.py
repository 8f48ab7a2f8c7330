"""The RBAC matrix: the table in docs/api.md is the code's table, and every cell with an endpoint is exercised."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import Organization, User
from donatello.tenancy import GRANTS, Permission, Role
from tests.support import factories
from tests.support.signin import bearer

API_GUIDE = Path(__file__).parents[2] / "docs" / "api.md"


def test_the_documented_matrix_is_the_enforced_matrix() -> None:
    text = API_GUIDE.read_text()
    section = text.split("## Roles and permissions", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    header = next(line for line in section.splitlines() if line.startswith("| permission"))
    roles = [Role(cell.strip().strip("`")) for cell in header.strip("|").split("|")[1:]]
    table = {}
    for row in rows:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        permission = Permission(re.sub(r"`", "", cells[0]))
        table[permission] = {role for role, mark in zip(roles, cells[1:], strict=True) if mark == "✓"}
    assert set(table) == set(Permission)
    for permission in Permission:
        assert table[permission] == {role for role in Role if permission in GRANTS[role]}, permission


Probe = Callable[[httpx.AsyncClient, dict[str, str], Organization, User], Awaitable[httpx.Response]]


async def _organizations(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    return await http.get("/v1/organizations", headers=auth)


async def _departments(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    return await http.post(
        "/v1/departments", json={"name": "N", "code": f"D{uuid.uuid4().hex[:6].upper()}"}, headers=auth
    )


async def _manage_users(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    return await http.patch(f"/v1/users/{other.id}", json={"is_active": False}, headers=auth)


async def _read_users(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    return await http.get("/v1/users", headers=auth)


async def _own_keys(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    return await http.post("/v1/api-keys", json={"name": "k", "scopes": ["generations:create"]}, headers=auth)


async def _own_webhooks(
    http: httpx.AsyncClient, auth: dict[str, str], org: Organization, other: User
) -> httpx.Response:
    body = {"webhook_url": "https://93.184.215.14/hook", "event_types": ["generation.completed"]}
    return await http.post("/v1/webhooks", json=body, headers=auth)


PROBES: dict[Permission, Probe] = {
    Permission.ORGANIZATIONS_MANAGE: _organizations,
    Permission.DEPARTMENTS_MANAGE: _departments,
    Permission.USERS_MANAGE: _manage_users,
    Permission.USERS_READ: _read_users,
    Permission.API_KEYS_OWN: _own_keys,
    Permission.WEBHOOKS_OWN: _own_webhooks,
}


@pytest.mark.parametrize("permission", list(PROBES), ids=str)
@pytest.mark.parametrize("role", list(Role), ids=str)
async def test_each_role_gets_exactly_its_cell(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, role: Role, permission: Permission
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    member = await factories.user(db, org, role=role.value, department=dept)
    other = await factories.user(db, org, department=dept)

    response = await PROBES[permission](client, bearer(tokens.issue(member.id, org.id)), org, other)

    allowed = permission in GRANTS[role]
    assert (response.status_code < 400) is allowed, (role, permission, response.text)
    if not allowed:
        assert response.status_code == 403
        assert response.json()["required_permission"] == permission.value
