from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission

#: Managers reach their own department only (the service checks ``reaches_department``).
CanReadBudgets = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]
#: budgets:manage changes anything; budget-alerts:manage only the alert fields (the service narrows).
CanChangeBudgets = Annotated[
    Principal, Depends(require(Permission.BUDGETS_MANAGE, Permission.BUDGET_ALERTS_MANAGE))
]
CanSetBudgets = Annotated[Principal, Depends(require(Permission.BUDGETS_MANAGE))]
CanAmendCharges = Annotated[Principal, Depends(require(Permission.BUDGETS_MANAGE))]
