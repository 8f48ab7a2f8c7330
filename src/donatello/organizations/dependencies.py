from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Action, Principal

CanManageOrganizations = Annotated[Principal, Depends(require(Action.MANAGE_ORGANIZATIONS))]
CanChangeOrganizationSettings = Annotated[Principal, Depends(require(Action.CHANGE_ORGANIZATION_SETTINGS))]
