from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import SignedIn, in_organization, require
from donatello.tenancy import Action, Principal

CanReadDepartments = SignedIn  # every member sees the organization's departments
CanManageDepartments = Annotated[Principal, Depends(require(Action.MANAGE_DEPARTMENTS))]
#: Creating one: a platform admin names the organization with ``organization_id``.
CanAddDepartments = Annotated[Principal, Depends(in_organization(Action.MANAGE_DEPARTMENTS))]
