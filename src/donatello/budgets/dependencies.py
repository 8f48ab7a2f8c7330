from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import CurrentPrincipal, require
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission

CanReadBudgets = CurrentPrincipal  # the service narrows: reports:read, managers to their own department
CanChangeBudgets = CurrentPrincipal  # the service narrows: budgets:manage, or budget-alerts:manage
CanSetBudgets = Annotated[Principal, Depends(require(Permission.BUDGETS_MANAGE))]
CanAmendCharges = Annotated[Principal, Depends(require(Permission.BUDGETS_MANAGE))]
