from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.auth.dependencies import CurrentPrincipal, require_role
from donatello.providers.availability import Availability, availability_for
from donatello.tenancy import Principal, Role

CanReadProviders = CurrentPrincipal
CanManageProviders = Annotated[Principal, Depends(require_role(Role.SUPER_ADMIN))]


def _availability(request: Request) -> Availability:
    return availability_for(getattr(request.app.state, "redis", None))


ModelAvailability = Annotated[Availability, Depends(_availability)]
