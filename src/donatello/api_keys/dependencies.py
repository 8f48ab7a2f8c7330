from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Action, Principal

CanCreateKeys = Annotated[Principal, Depends(require(Action.OWN_API_KEYS))]
#: Own keys (api-keys:own) or the organization's (api-keys:manage); the service narrows to own keys.
CanSeeKeys = Annotated[Principal, Depends(require(Action.SEE_API_KEYS))]
