from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Permission, Principal

CanReconcile = Annotated[Principal, Depends(require(Permission.RECONCILIATIONS_MANAGE))]
"""Finance and org admins: import provider bills and read how they compare with the ledger."""
