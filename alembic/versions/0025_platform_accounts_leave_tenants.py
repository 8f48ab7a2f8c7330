"""Platform accounts leave tenant organizations.

A database made before platform administrators had an organization of their own can hold a super_admin
whose ``organization_id`` is a tenant's. Everything that acts as that account (its API keys, webhooks,
sessions, preferences) then sits in the tenant too, where the tenant's org admin can list, revoke and
manage it. This moves each such account into the platform organization (``organizations.is_platform``),
creating that organization when there is none, with what acts as the account:

* ``api_keys``, ``webhooks``, ``user_preferences``: moved, unchanged.
* ``user_sessions``: moved and revoked — they were signed in through a tenant's directory, which never
  speaks for the platform; the administrator signs in again through the platform's organization.
* ``scim_group_members``: deleted — the groups are the tenant's directory.
* the account itself: its tenant-written fields go (``department_id``, the Entra object id a tenant's SCIM
  could set, the SCIM profile); the platform binds its identity again at its first platform sign-in (by
  e-mail). Should the platform organization already hold a live account at that address, the moved one is
  deactivated and marked deleted instead of colliding.
* one ``user.moved_to_platform`` audit event per account, in the platform organization's chain.

What the tenant was charged stays with the tenant: generations, batches, reservations, cost events and
rollups, budget requests, exports, reconciliations, provisioning tokens and audit events recorded so far
are its ledger and its record.

From now on the application keeps it so: a platform role is granted only inside the platform organization
(``users.administration.ensure_may_grant``) and Entra sign-in never holds one through a tenant.

Downgrade: a no-op by design. Putting a platform administrator back into a tenant would reopen the hole
this closes, and which tenant each came from is kept only in the audit events.

platform accounts leave tenants

Revision ID: 0025
Revises: 0024
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Roles ranked above a tenant's ceiling (org_admin): they belong to the platform.
PLATFORM_ROLES = ("super_admin",)
#: A reserved name (RFC 2606) for a platform organization this migration has to create; the operator
#: renames it and links its Entra tenant through the organizations API.
CREATED_PLATFORM = {"name": "DonatelloAI Platform", "domain": "platform.invalid"}
#: Tables whose rows act as their ``user_id`` and move with the account.
MOVED = ("api_keys", "webhooks", "user_preferences", "user_sessions")


def upgrade() -> None:
    connection = op.get_bind()
    legacy = connection.execute(
        sa.text(
            "SELECT u.id, u.organization_id, u.email, u.role, u.azure_ad_id, u.department_id "
            "FROM users u JOIN organizations o ON o.id = u.organization_id "
            "WHERE u.role IN :roles AND NOT o.is_platform ORDER BY u.created_at, u.id"
        ).bindparams(sa.bindparam("roles", PLATFORM_ROLES, expanding=True))
    ).all()
    if not legacy:
        return
    platform_id = _platform_organization(connection)
    for account in legacy:
        _move(connection, account, platform_id)


def downgrade() -> None:
    """Nothing to undo: see the module's docstring."""


def _platform_organization(connection: sa.Connection) -> object:
    found = connection.execute(sa.text("SELECT id FROM organizations WHERE is_platform")).scalar()
    if found is not None:
        return found
    return connection.execute(
        sa.text(
            "INSERT INTO organizations (name, domain, is_platform, is_active) "
            "VALUES (:name, :domain, true, true) RETURNING id"
        ),
        CREATED_PLATFORM,
    ).scalar_one()


def _move(connection: sa.Connection, account: sa.Row[tuple[object, ...]], platform_id: object) -> None:
    params = {"user": account.id, "platform": platform_id, "email": account.email}
    taken = connection.execute(
        sa.text(
            "SELECT 1 FROM users WHERE organization_id = :platform AND lower(email) = lower(:email) "
            "AND deleted_at IS NULL AND id <> :user"
        ),
        params,
    ).first()
    connection.execute(
        sa.text(
            "UPDATE users SET organization_id = :platform, department_id = NULL, azure_ad_id = NULL, "
            "scim_profile = '{}'::jsonb, updated_at = now(), "
            "is_active = CASE WHEN :taken THEN false ELSE is_active END, "
            "deleted_at = CASE WHEN :taken THEN coalesce(deleted_at, now()) ELSE deleted_at END "
            "WHERE id = :user"
        ),
        {**params, "taken": taken is not None},
    )
    for table in MOVED:
        connection.execute(
            sa.text(f"UPDATE {table} SET organization_id = :platform WHERE user_id = :user"),  # noqa: S608
            params,
        )
    connection.execute(
        sa.text(
            "UPDATE user_sessions SET revoked = true, revoked_at = now(), revoked_reason = 'moved-to-platform' "
            "WHERE user_id = :user AND NOT revoked"
        ),
        params,
    )
    connection.execute(sa.text("DELETE FROM scim_group_members WHERE user_id = :user"), params)
    _record(connection, account, platform_id, duplicate=taken is not None)


def _record(
    connection: sa.Connection, account: sa.Row[tuple[object, ...]], platform_id: object, *, duplicate: bool
) -> None:
    connection.execute(
        sa.text(
            "WITH e AS (SELECT gen_random_uuid() AS id, clock_timestamp() AS at) "
            "INSERT INTO audit_outbox (event_id, organization_id, user_id, event_type, payload, created_at) "
            "SELECT e.id, :platform, NULL, 'user.moved_to_platform', jsonb_build_object("
            "  'id', e.id::text, 'user_id', 'system', 'organization_id', CAST(:platform AS text),"
            "  'timestamp', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
            "  'event_type', 'user.moved_to_platform', 'action', 'moved',"
            "  'resource_type', 'user', 'resource_id', CAST(:user AS text), 'user_email', NULL,"
            "  'ip_address', NULL, 'user_agent', NULL, 'request_id', NULL, 'status', 'success',"
            "  'error_message', NULL, 'metadata', jsonb_build_object("
            "    'actor', 'migration 0025', 'email', CAST(:email AS text), 'role', CAST(:role AS text),"
            "    'from_organization_id', CAST(:tenant AS text),"
            "    'from_department_id', CAST(:department AS text),"
            "    'unbound_entra_object_id', CAST(:oid AS text),"
            "    'deactivated_as_duplicate', CAST(:duplicate AS boolean))), e.at FROM e"
        ),
        {
            "platform": platform_id,
            "user": account.id,
            "email": account.email,
            "role": account.role,
            "tenant": account.organization_id,
            "department": account.department_id,
            "oid": account.azure_ad_id,
            "duplicate": duplicate,
        },
    )
