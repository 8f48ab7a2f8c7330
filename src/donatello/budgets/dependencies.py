from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Action, Principal

#: Managers reach their own department only (the service checks ``reaches_department``).
CanReadBudgets = Annotated[Principal, Depends(require(Action.READ_REPORTS))]
#: budgets:manage changes anything; budget-alerts:manage only the alert fields (the service narrows).
CanChangeBudgets = Annotated[Principal, Depends(require(Action.CHANGE_BUDGET))]
CanSetBudgets = Annotated[Principal, Depends(require(Action.SET_BUDGET))]
CanAmendCharges = Annotated[Principal, Depends(require(Action.AMEND_CHARGES))]
#: Ask for more budget: a department's manager (or an org admin) at any time, anyone else from a refusal.
CanAskForBudget = Annotated[Principal, Depends(require(Action.ASK_FOR_BUDGET))]
#: A department's requests: all for those who read its reports, one's own for the askers (service narrows).
CanSeeBudgetRequests = Annotated[Principal, Depends(require(Action.SEE_BUDGET_REQUESTS))]
#: Decide requests, and read the organization's queue: org admins.
CanDecideBudgetRequests = Annotated[Principal, Depends(require(Action.DECIDE_BUDGET_REQUESTS))]
