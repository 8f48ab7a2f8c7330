from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import in_organization, require
from donatello.tenancy import Permission, Principal

CanReadUsers = Annotated[Principal, Depends(require(Permission.USERS_READ))]
CanManageUsers = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
#: Listing: a platform admin names the organization with ``organization_id``.
CanListUsers = Annotated[Principal, Depends(in_organization(Permission.USERS_READ))]
#: Adding a user: a platform admin names the organization with ``organization_id`` (required for them).
CanAddUsers = Annotated[Principal, Depends(in_organization(Permission.USERS_MANAGE))]
