"""An instant a client sends must say its UTC offset: an API key's ``expires_at`` (and the audit log's
``from``/``to``) without one, or as a bare date, is a 422 problem naming the field — never a 500 from
comparing a naive time with an aware one — and an instant with an offset is kept as the same moment in
UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from tests.support import factories
from tests.support.signin import bearer_for

NEXT_YEAR = datetime.now(UTC).year + 1


@pytest.mark.parametrize(
    "expires_at", [f"{NEXT_YEAR}-06-30T12:00:00", f"{NEXT_YEAR}-06-30", f"{NEXT_YEAR}-06-30T12:00"]
)
async def test_an_expiry_without_an_offset_is_refused_not_a_500(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, expires_at: str
) -> None:
    org = await factories.organization(db)
    power = await factories.user(db, org, role="power_user")
    response = await client.post(
        "/v1/api-keys",
        json={"name": "ci", "scopes": ["generations:create"], "expires_at": expires_at},
        headers=bearer_for(tokens, power),
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert "expires_at" in response.text and "timezone" in response.text.lower()


async def test_an_expiry_with_an_offset_is_the_same_moment_in_utc(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    power = await factories.user(db, org, role="power_user")
    response = await client.post(
        "/v1/api-keys",
        json={
            "name": "ci",
            "scopes": ["generations:create"],
            "expires_at": f"{NEXT_YEAR}-07-01T09:30:00+10:00",
        },
        headers=bearer_for(tokens, power),
    )
    assert response.status_code == 201, response.text
    expires = datetime.fromisoformat(response.json()["expires_at"])
    assert expires == datetime(NEXT_YEAR, 6, 30, 23, 30, tzinfo=UTC)
    assert expires.utcoffset() == timedelta(0)


async def test_audit_log_bounds_without_an_offset_are_refused(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    headers = bearer_for(tokens, admin)
    naive = await client.get("/v1/audit-events?from=2026-01-01T00:00:00", headers=headers)
    assert naive.status_code == 422 and "from" in naive.text
    aware = await client.get("/v1/audit-events?from=2026-01-01T00:00:00Z", headers=headers)
    assert aware.status_code == 200, aware.text
