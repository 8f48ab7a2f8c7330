from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Permission, Principal

CanManageOrganizations = Annotated[Principal, Depends(require(Permission.ORGANIZATIONS_MANAGE))]
CanChangeOrganizationSettings = Annotated[Principal, Depends(require(Permission.ORGANIZATION_SETTINGS))]
