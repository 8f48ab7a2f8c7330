"""Roles, permissions and the RBAC matrix in one place: which role may do what (docs/api.md "Roles and
permissions" is the same table). ``principal.py`` builds on it; nothing here imports back.

Actions on oneself (profile, own sessions, own preferences) need no permission: every signed-in user
may take them, and their routes say so (``SignedIn``; ``SignedInViewer`` in the browser). What each
use case needs of these permissions is mapped once in ``actions.py``. API keys act as their owner
narrowed to the key's scopes, which are permission names.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    SUPER_ADMIN = "super_admin"
    ORG_ADMIN = "org_admin"
    DEPT_MANAGER = "dept_manager"
    POWER_USER = "power_user"
    STANDARD_USER = "standard_user"
    FINANCE = "finance"  # read-only cost reports and exports across its organization


class Permission(StrEnum):
    ORGANIZATIONS_MANAGE = "organizations:manage"
    ORGANIZATION_SETTINGS = "organization-settings:manage"  # one's own organization's MFA rule
    PROVIDERS_MANAGE = "providers:manage"
    PROVIDERS_READ_CONFIG = "providers:read-config"  # inactive models and runtime configuration too
    DEPARTMENTS_MANAGE = "departments:manage"
    USERS_MANAGE = "users:manage"
    USERS_READ = "users:read"  # dept_manager: their own department only
    BUDGETS_MANAGE = "budgets:manage"
    BUDGET_ALERTS_MANAGE = "budget-alerts:manage"
    BUDGET_REQUESTS_CREATE = "budget-requests:create"  # ask for more budget (managers; others from a refusal)
    API_KEYS_MANAGE = "api-keys:manage"  # every key in the organization
    API_KEYS_OWN = "api-keys:own"  # create and revoke one's own keys
    AUDIT_READ = "audit:read"
    REPORTS_READ = "reports:read"  # dept_manager: their own department only
    EXPORTS_READ = "exports:read"
    RECONCILIATIONS_MANAGE = "reconciliations:manage"  # import provider bills, read the comparison
    GENERATIONS_READ_OTHERS = "generations:read-others"  # dept_manager: their own department only
    GENERATIONS_MANAGE_OTHERS = "generations:manage-others"  # cancel, delete, read prompts (audited)
    GENERATIONS_CREATE = "generations:create"
    GENERATIONS_BATCH = "generations:batch"
    GENERATIONS_HD = "generations:hd"
    WEBHOOKS_MANAGE = "webhooks:manage"  # every webhook in the organization; receives org-wide events
    WEBHOOKS_OWN = "webhooks:own"  # register and manage one's own webhooks (events about oneself)


P = Permission
_STAFF = {P.GENERATIONS_CREATE, P.BUDGET_REQUESTS_CREATE}
_POWER = {*_STAFF, P.GENERATIONS_BATCH, P.GENERATIONS_HD, P.API_KEYS_OWN, P.WEBHOOKS_OWN}

GRANTS: dict[Role, frozenset[Permission]] = {
    Role.SUPER_ADMIN: frozenset(Permission),
    Role.ORG_ADMIN: frozenset(
        {
            *_POWER,
            P.PROVIDERS_READ_CONFIG,
            P.ORGANIZATION_SETTINGS,
            P.DEPARTMENTS_MANAGE,
            P.USERS_MANAGE,
            P.USERS_READ,
            P.BUDGETS_MANAGE,
            P.BUDGET_ALERTS_MANAGE,
            P.API_KEYS_MANAGE,
            P.AUDIT_READ,
            P.REPORTS_READ,
            P.EXPORTS_READ,
            P.RECONCILIATIONS_MANAGE,
            P.GENERATIONS_READ_OTHERS,
            P.GENERATIONS_MANAGE_OTHERS,
            P.WEBHOOKS_MANAGE,
        }
    ),
    Role.DEPT_MANAGER: frozenset(
        {*_STAFF, P.USERS_READ, P.GENERATIONS_READ_OTHERS, P.REPORTS_READ, P.BUDGET_ALERTS_MANAGE}
    ),
    Role.FINANCE: frozenset({P.REPORTS_READ, P.EXPORTS_READ, P.RECONCILIATIONS_MANAGE}),
    Role.POWER_USER: frozenset(_POWER),
    Role.STANDARD_USER: frozenset(_STAFF),
}

#: Roles ordered by reach; a user may grant only roles at or below their own (finance sits with
#: dept_manager: org-wide read, no management).
RANK: dict[Role, int] = {
    Role.STANDARD_USER: 0,
    Role.POWER_USER: 1,
    Role.FINANCE: 2,
    Role.DEPT_MANAGER: 2,
    Role.ORG_ADMIN: 3,
    Role.SUPER_ADMIN: 4,
}


#: The highest role a tenant credential acts with (an org admin, the organization's provisioning token, its
#: Entra role mapping). Accounts ranked above it belong to the platform: no tenant credential reads,
#: changes, deactivates, re-keys or deletes them, and to a tenant they do not exist (404).
TENANT_CEILING = Role.ORG_ADMIN
#: The roles a tenant credential reaches: its own organization's people up to ``TENANT_CEILING``.
TENANT_ROLES: frozenset[str] = frozenset(role.value for role in Role if RANK[role] <= RANK[TENANT_CEILING])


def granted(role: Role, permission: Permission) -> bool:
    return permission in GRANTS[role]
