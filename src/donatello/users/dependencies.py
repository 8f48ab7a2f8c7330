from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Permission, Principal

CanReadUsers = Annotated[Principal, Depends(require(Permission.USERS_READ))]
CanManageUsers = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
