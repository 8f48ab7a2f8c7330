"""Access tokens: who may call at all, and what a token no longer grants."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.keys import load_or_create_ed25519
from tests.support import factories


async def test_me_describes_the_caller_from_the_database(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    manager = await factories.user(db, org, role="dept_manager", department=dept)

    response = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {tokens.issue(manager.id, org.id)}"}
    )

    assert response.status_code == 200
    assert response.json() == {
        "user_id": str(manager.id),
        "organization_id": str(org.id),
        "department_id": str(dept.id),
        "role": "dept_manager",
        "email": manager.email,
        # A token without a sign-in behind it: the person's MFA so far (on, in the factory) counts.
        "mfa": {
            "rule": "amr",
            "contexts": [],
            "this_sign_in": None,
            "mfa_enabled": True,
            "grace_period_expires_at": None,
            "satisfied": True,
        },
    }


async def test_requests_without_a_valid_token_are_401_problems(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, tmp_path: Path
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org)
    forged = TokenSigner(load_or_create_ed25519(tmp_path / "other.pem"))
    expired = TokenSigner(tokens._key, lifetime=timedelta(seconds=-120))
    for headers in (
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not.a.jwt"},
        {"Authorization": f"Bearer {forged.issue(member.id, org.id)}"},
        {"Authorization": f"Bearer {expired.issue(member.id, org.id)}"},
    ):
        response = await client.get("/v1/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_deactivated_user_or_organization_can_no_longer_act(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    leaver = await factories.user(db, org, is_active=False)
    closed = await factories.organization(db, is_active=False)
    former_customer = await factories.user(db, closed)
    for member in (leaver, former_customer):
        token = tokens.issue(member.id, member.organization_id)
        response = await client.get("/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401


async def test_a_token_naming_another_organization_does_not_reach_the_user(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org, other = await factories.organization(db), await factories.organization(db)
    member = await factories.user(db, org, role="org_admin")
    response = await client.get(
        "/v1/me", headers={"Authorization": f"Bearer {tokens.issue(member.id, other.id)}"}
    )
    assert response.status_code == 401
