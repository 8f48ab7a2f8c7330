from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Action, Principal

CanReconcile = Annotated[Principal, Depends(require(Action.RECONCILE))]
"""Finance and org admins: import provider bills and read how they compare with the ledger."""
