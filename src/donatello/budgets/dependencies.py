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
#: Ask for more budget: a department's manager (or an org admin) at any time, anyone else from a refusal.
CanAskForBudget = Annotated[Principal, Depends(require(Permission.BUDGET_REQUESTS_CREATE))]
#: A department's requests: all for those who read its reports, one's own for the askers (service narrows).
CanSeeBudgetRequests = Annotated[
    Principal, Depends(require(Permission.BUDGET_REQUESTS_CREATE, Permission.REPORTS_READ))
]
#: Decide requests, and read the organization's queue: org admins.
CanDecideBudgetRequests = Annotated[Principal, Depends(require(Permission.BUDGETS_MANAGE))]
