from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import CurrentPrincipal, require_role
from donatello.tenancy import Principal, Role

CanReadDepartments = CurrentPrincipal
CanManageDepartments = Annotated[Principal, Depends(require_role(Role.ORG_ADMIN))]
