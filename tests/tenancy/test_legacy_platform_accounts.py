"""A tenant's org admin attacks what a legacy super admin — one whose account was made inside the tenant
before platform administrators had an organization of their own — owns there: its API keys, webhooks and
audit trail. Once the database is upgraded the account and what acts as it have left the tenant: every read
and write is 404 or finds nothing, and nothing changed. What the tenant was charged for (the super admin's
generation) stays the tenant's ledger, on purpose."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core import migrations
from donatello.core.database import create_engine
from donatello.main import create_app
from tests.support.database import APP_ROLE
from tests.support.legacy_platform import LegacyWorld, legacy_database


@pytest.fixture
def legacy(postgres_url: str) -> Iterator[LegacyWorld]:
    yield from legacy_database(postgres_url, "donatello_legacy_attack")


@pytest.fixture
async def upgraded(
    legacy: LegacyWorld, settings: Settings
) -> AsyncIterator[tuple[httpx.AsyncClient, TokenSigner]]:
    """The legacy database upgraded to head, served by the application as in production (RLS applies)."""
    migrations.upgrade(legacy.url)
    engine = create_engine(legacy.url, app_role=APP_ROLE, pool_size=2)
    app = create_app(settings.model_copy(update={"database_url": legacy.url}), engine=engine)
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                yield http, app.state.token_signer
    finally:
        await engine.dispose()


def _as(tokens: TokenSigner, user: uuid.UUID, organization: uuid.UUID) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(user, organization)}"}


async def test_the_org_admin_cannot_list_or_revoke_the_platform_accounts_api_keys(
    legacy: LegacyWorld, upgraded: tuple[httpx.AsyncClient, TokenSigner]
) -> None:
    http, tokens = upgraded
    admin = _as(tokens, legacy.org_admin, legacy.tenant)

    listed = await http.get("/v1/api-keys", headers=admin)
    assert listed.status_code == 200
    assert {key["id"] for key in listed.json()["items"]} == {str(legacy.admins_key)}
    revoked = await http.delete(f"/v1/api-keys/{legacy.api_key}", headers=admin)
    assert revoked.status_code == 404

    assert legacy.rows("SELECT is_active, revoked_at FROM api_keys WHERE id = %(id)s", id=legacy.api_key) == [
        (True, None)
    ]


async def test_the_org_admin_cannot_see_or_manage_the_platform_accounts_webhooks(
    legacy: LegacyWorld, upgraded: tuple[httpx.AsyncClient, TokenSigner]
) -> None:
    http, tokens = upgraded
    admin = _as(tokens, legacy.org_admin, legacy.tenant)

    listed = await http.get("/v1/webhooks", headers=admin)
    assert listed.status_code == 200
    assert str(legacy.webhook) not in {hook["id"] for hook in listed.json()["items"]}
    assert (await http.get(f"/v1/webhooks/{legacy.webhook}", headers=admin)).status_code == 404
    changed = await http.patch(f"/v1/webhooks/{legacy.webhook}", json={"is_active": False}, headers=admin)
    assert changed.status_code == 404
    assert (await http.delete(f"/v1/webhooks/{legacy.webhook}", headers=admin)).status_code == 404

    assert legacy.rows("SELECT is_active FROM webhooks WHERE id = %(id)s", id=legacy.webhook) == [(True,)]


async def test_the_platform_accounts_new_activity_is_not_in_the_tenants_audit_log(
    legacy: LegacyWorld, upgraded: tuple[httpx.AsyncClient, TokenSigner]
) -> None:
    http, tokens = upgraded
    platform = legacy.one("SELECT organization_id FROM users WHERE id = %(id)s", id=legacy.super_admin)
    assert isinstance(platform, uuid.UUID) and platform != legacy.tenant
    operator = _as(tokens, legacy.super_admin, platform)
    created = await http.post(
        "/v1/api-keys", json={"name": "nightly", "scopes": ["reports:read"]}, headers=operator
    )
    assert created.status_code == 201, created.text

    admin = _as(tokens, legacy.org_admin, legacy.tenant)
    seen = await http.get("/v1/audit-events", params={"user_id": str(legacy.super_admin)}, headers=admin)
    assert seen.status_code == 200
    assert seen.json()["items"] == []
    assert created.json()["id"] not in {
        key["id"] for key in (await http.get("/v1/api-keys", headers=admin)).json()["items"]
    }


async def test_the_account_is_no_longer_the_tenants_and_its_generation_stays_the_tenants_ledger(
    legacy: LegacyWorld, upgraded: tuple[httpx.AsyncClient, TokenSigner]
) -> None:
    http, tokens = upgraded
    admin = _as(tokens, legacy.org_admin, legacy.tenant)

    assert (await http.get(f"/v1/users/{legacy.super_admin}", headers=admin)).status_code == 404
    # The tenant paid for it: it stays in the tenant's generations (and reports), attributed to the account.
    charged = await http.get(f"/v1/generations/{legacy.generation}", headers=admin)
    assert charged.status_code == 200
    assert charged.json()["id"] == str(legacy.generation)
