from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.auth.dependencies import SignedIn, require
from donatello.dependencies import resources_of
from donatello.providers.availability import Availability, availability_for
from donatello.tenancy import Permission, Principal

CanReadProviders = SignedIn  # everyone reads active models; providers:read-config sees more
CanManageProviders = Annotated[Principal, Depends(require(Permission.PROVIDERS_MANAGE))]


def _availability(request: Request) -> Availability:
    return availability_for(resources_of(request).redis)


ModelAvailability = Annotated[Availability, Depends(_availability)]
