"""What a person does, named once, with the permissions it needs: the one map both edges read.

The API's ``require(Action.X)`` and the web's ``requiring(Action.X)`` declare a route by its action, and
every service that changes something checks the same entry (``ensure``), whoever calls it. Any one of
an action's permissions allows it; the services narrow further where a permission reaches only part of
the organization (a manager's own department, one's own generations).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from donatello.core.errors import Forbidden
from donatello.tenancy.permissions import GRANTS, Permission, Role
from donatello.tenancy.principal import Principal

P = Permission


class Action(StrEnum):
    GENERATE = "generate"  # send a generation: the permission, and MFA once the grace period has ended
    QUOTE = "quote"  # price a generation and list the models that could run it (no MFA needed)
    READ_GENERATIONS = "read-generations"  # one's own, or (read-others) others'
    ACT_ON_GENERATIONS = "act-on-generations"  # cancel, delete, read a prompt: one's own or others'
    OVERSEE_GENERATIONS = "oversee-generations"  # a department's gallery
    READ_REPORTS = "read-reports"
    SET_BUDGET = "set-budget"  # create or replace a department's budget
    CHANGE_BUDGET = "change-budget"  # some settings; alerts and the per-person cap only for managers
    AMEND_CHARGES = "amend-charges"
    ASK_FOR_BUDGET = "ask-for-budget"
    ASK_FROM_DASHBOARD = "ask-from-dashboard"  # a manager's form on their department's dashboard
    SEE_BUDGET_REQUESTS = "see-budget-requests"
    DECIDE_BUDGET_REQUESTS = "decide-budget-requests"
    EXPORT_COSTS = "export-costs"
    RECONCILE = "reconcile"
    READ_AUDIT_LOG = "read-audit-log"
    MANAGE_DEPARTMENTS = "manage-departments"
    READ_PEOPLE = "read-people"
    MANAGE_PEOPLE = "manage-people"
    OWN_API_KEYS = "own-api-keys"
    SEE_API_KEYS = "see-api-keys"  # one's own, or (api-keys:manage) the organization's
    MANAGE_API_KEYS = "manage-api-keys"
    OWN_WEBHOOKS = "own-webhooks"  # one's own, or (webhooks:manage) the organization's
    MANAGE_MODELS = "manage-models"
    CHANGE_ORGANIZATION_SETTINGS = "change-organization-settings"
    MANAGE_ORGANIZATIONS = "manage-organizations"


@dataclass(frozen=True)
class Policy:
    permissions: tuple[Permission, ...]  # any one of them
    mfa: bool = False  # the sign-in must meet the organization's MFA rule (after the grace period)
    also: tuple[Permission, ...] = ()  # and each of these (a form on a page that needs its own)

    def missing(self, principal: Principal) -> tuple[Permission, ...]:
        """What the principal lacks (any one of the result would do), or nothing when allowed."""
        if self.permissions and not any(principal.can(permission) for permission in self.permissions):
            return self.permissions
        return next(((permission,) for permission in self.also if not principal.can(permission)), ())


POLICIES: dict[Action, Policy] = {
    Action.GENERATE: Policy((P.GENERATIONS_CREATE,), mfa=True),
    Action.QUOTE: Policy((P.GENERATIONS_CREATE,)),
    Action.READ_GENERATIONS: Policy((P.GENERATIONS_CREATE, P.GENERATIONS_READ_OTHERS)),
    Action.ACT_ON_GENERATIONS: Policy((P.GENERATIONS_CREATE, P.GENERATIONS_MANAGE_OTHERS)),
    Action.OVERSEE_GENERATIONS: Policy((P.GENERATIONS_READ_OTHERS,)),
    Action.READ_REPORTS: Policy((P.REPORTS_READ,)),
    Action.SET_BUDGET: Policy((P.BUDGETS_MANAGE,)),
    Action.CHANGE_BUDGET: Policy((P.BUDGETS_MANAGE, P.BUDGET_ALERTS_MANAGE)),
    Action.AMEND_CHARGES: Policy((P.BUDGETS_MANAGE,)),
    Action.ASK_FOR_BUDGET: Policy((P.BUDGET_REQUESTS_CREATE,)),
    Action.ASK_FROM_DASHBOARD: Policy((P.BUDGET_REQUESTS_CREATE,), also=(P.REPORTS_READ,)),
    Action.SEE_BUDGET_REQUESTS: Policy((P.BUDGET_REQUESTS_CREATE, P.REPORTS_READ)),
    Action.DECIDE_BUDGET_REQUESTS: Policy((P.BUDGETS_MANAGE,)),
    Action.EXPORT_COSTS: Policy((P.EXPORTS_READ,)),
    Action.RECONCILE: Policy((P.RECONCILIATIONS_MANAGE,)),
    Action.READ_AUDIT_LOG: Policy((P.AUDIT_READ,)),
    Action.MANAGE_DEPARTMENTS: Policy((P.DEPARTMENTS_MANAGE,)),
    Action.READ_PEOPLE: Policy((P.USERS_READ,)),
    Action.MANAGE_PEOPLE: Policy((P.USERS_MANAGE,)),
    Action.OWN_API_KEYS: Policy((P.API_KEYS_OWN,)),
    Action.SEE_API_KEYS: Policy((P.API_KEYS_OWN, P.API_KEYS_MANAGE)),
    Action.MANAGE_API_KEYS: Policy((P.API_KEYS_MANAGE,)),
    Action.OWN_WEBHOOKS: Policy((P.WEBHOOKS_OWN, P.WEBHOOKS_MANAGE)),
    Action.MANAGE_MODELS: Policy((P.PROVIDERS_MANAGE,)),
    Action.CHANGE_ORGANIZATION_SETTINGS: Policy((P.ORGANIZATION_SETTINGS,)),
    Action.MANAGE_ORGANIZATIONS: Policy((P.ORGANIZATIONS_MANAGE,)),
}


def policy_of(*needs: Action | Permission) -> Policy:
    """One action's policy, or permissions named directly (any one of them; none: any signed-in user)."""
    if len(needs) == 1 and isinstance(needs[0], Action):
        return POLICIES[needs[0]]
    if any(isinstance(need, Action) for need in needs):
        raise TypeError("Name one action, or permissions")
    return Policy(tuple(Permission(need) for need in needs))


def refusal(permissions: tuple[Permission, ...], detail: str | None = None) -> Forbidden:
    """The 403 of a missing permission: the permissions that would do, and the roles that hold one."""
    roles = [
        role.value
        for role, granted in GRANTS.items()
        if set(permissions) & granted and role is not Role.SUPER_ADMIN  # implied everywhere
    ]
    return Forbidden(
        detail or f"This action needs the permission {' or '.join(p.value for p in permissions)}",
        required_permission=permissions[0].value,
        required_permissions=[permission.value for permission in permissions],
        # a permission no organization role holds (platform administration) names no roles
        **({"required_roles": roles} if roles else {}),
    )


def ensure(principal: Principal, action: Action) -> None:
    """Refuse (403) a principal whose permissions do not allow ``action``: a service's own check."""
    if missing := POLICIES[action].missing(principal):
        raise refusal(missing)
