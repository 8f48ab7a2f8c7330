from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Permission, Principal

CanCreateKeys = Annotated[Principal, Depends(require(Permission.API_KEYS_OWN))]
#: Own keys (api-keys:own) or the organization's (api-keys:manage); the service narrows to own keys.
CanSeeKeys = Annotated[Principal, Depends(require(Permission.API_KEYS_OWN, Permission.API_KEYS_MANAGE))]
