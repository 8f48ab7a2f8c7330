"""Who is asking, and which organizations' rows they may touch."""

from donatello.tenancy.actions import Action, ensure
from donatello.tenancy.permissions import GRANTS, RANK, TENANT_CEILING, TENANT_ROLES, Permission, Role
from donatello.tenancy.principal import Principal
from donatello.tenancy.scope import scope, scoped_get

__all__ = [
    "GRANTS",
    "RANK",
    "TENANT_CEILING",
    "TENANT_ROLES",
    "Action",
    "Permission",
    "Principal",
    "Role",
    "ensure",
    "scope",
    "scoped_get",
]
