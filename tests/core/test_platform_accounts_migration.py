"""Upgrading a database that holds a super admin inside a tenant moves the account into the platform
organization with what acts as it, leaves the tenant's ledger where it was charged, and says so in the
audit log; downgrading keeps the account where it now is (documented in the migration)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from donatello.core import migrations
from tests.support.legacy_platform import MOVE, LegacyWorld, before_move, legacy_database


@pytest.fixture
def legacy(postgres_url: str) -> Iterator[LegacyWorld]:
    yield from legacy_database(postgres_url, "donatello_legacy_move")


def _organization_of(world: LegacyWorld, table: str, row_id: object) -> object:
    return world.one(f"SELECT organization_id FROM {table} WHERE id = %(id)s", id=row_id)


def test_a_super_admin_in_a_tenant_moves_to_a_new_platform_organization_with_its_keys_and_sessions(
    legacy: LegacyWorld,
) -> None:
    assert legacy.one("SELECT count(*) FROM organizations WHERE is_platform") == 0

    migrations.upgrade(legacy.url, MOVE)

    platform = legacy.one("SELECT id FROM organizations WHERE is_platform")
    assert platform != legacy.tenant
    account = legacy.rows(
        "SELECT organization_id, department_id, azure_ad_id, role, is_active, deleted_at FROM users "
        "WHERE id = %(id)s",
        id=legacy.super_admin,
    )
    # The Entra object id was the tenant's to set: the platform binds the identity again.
    assert account == [(platform, None, None, "super_admin", True, None)]
    for table, row in [
        ("api_keys", legacy.api_key),
        ("webhooks", legacy.webhook),
        ("user_sessions", legacy.session),
        ("user_preferences", legacy.preference),
    ]:
        assert _organization_of(legacy, table, row) == platform, table
    assert legacy.rows(
        "SELECT revoked, revoked_reason FROM user_sessions WHERE id = %(id)s", id=legacy.session
    ) == [(True, "moved-to-platform")]
    assert (
        legacy.one("SELECT count(*) FROM scim_group_members WHERE user_id = %(u)s", u=legacy.super_admin) == 0
    )

    # The tenant's ledger and its own people stay where they were.
    assert _organization_of(legacy, "generations", legacy.generation) == legacy.tenant
    assert _organization_of(legacy, "users", legacy.org_admin) == legacy.tenant
    assert _organization_of(legacy, "api_keys", legacy.admins_key) == legacy.tenant

    (note,) = legacy.rows(
        "SELECT organization_id, payload FROM audit_outbox WHERE event_type = 'user.moved_to_platform'"
    )
    assert note[0] == platform
    payload = note[1]
    assert isinstance(payload, dict)
    assert payload["resource_id"] == str(legacy.super_admin)
    assert payload["metadata"]["from_organization_id"] == str(legacy.tenant)
    assert payload["metadata"]["unbound_entra_object_id"] == "oid-set-by-the-tenant"


def test_an_existing_platform_organization_receives_the_account_and_a_duplicate_address_is_retired(
    legacy: LegacyWorld,
) -> None:
    with_platform = (
        "WITH p AS (INSERT INTO organizations (name, domain, is_platform) "
        "VALUES ('Platform', 'platform.example', true) RETURNING id) "
        "INSERT INTO users (organization_id, email, role) "
        "SELECT id, 'super_admin@acme.com.au', 'super_admin' FROM p RETURNING organization_id"
    )
    (platform,) = legacy.rows(with_platform)[0]

    migrations.upgrade(legacy.url, MOVE)

    assert legacy.one("SELECT count(*) FROM organizations WHERE is_platform") == 1
    moved = legacy.rows(
        "SELECT organization_id, is_active, deleted_at IS NOT NULL FROM users WHERE id = %(id)s",
        id=legacy.super_admin,
    )
    assert moved == [(platform, False, True)]
    assert _organization_of(legacy, "api_keys", legacy.api_key) == platform


def test_downgrading_keeps_the_platform_account_out_of_the_tenant(legacy: LegacyWorld) -> None:
    migrations.upgrade(legacy.url, MOVE)
    platform = legacy.one("SELECT id FROM organizations WHERE is_platform")

    migrations.downgrade(legacy.url, before_move())

    assert _organization_of(legacy, "users", legacy.super_admin) == platform
    assert _organization_of(legacy, "api_keys", legacy.api_key) == platform
    migrations.upgrade(legacy.url)  # and upgrading again finds nothing left to move
    assert legacy.one("SELECT count(*) FROM audit_outbox WHERE event_type = 'user.moved_to_platform'") == 1
