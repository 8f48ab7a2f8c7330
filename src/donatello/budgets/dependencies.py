from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import CurrentPrincipal, require_role
from donatello.tenancy import Principal, Role

CanReadBudgets = CurrentPrincipal  # the service narrows: org admin, finance, the department's manager
CanChangeBudgets = CurrentPrincipal  # the service narrows: org admin; managers for alerts and caps
CanSetBudgets = Annotated[Principal, Depends(require_role(Role.ORG_ADMIN))]
CanAmendCharges = Annotated[Principal, Depends(require_role(Role.ORG_ADMIN))]
