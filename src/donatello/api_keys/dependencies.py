from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import CurrentPrincipal, require
from donatello.tenancy import Permission, Principal

CanCreateKeys = Annotated[Principal, Depends(require(Permission.API_KEYS_OWN))]
CanSeeKeys = CurrentPrincipal
