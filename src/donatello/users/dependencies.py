from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import in_organization, require
from donatello.tenancy import Action, Principal

CanReadUsers = Annotated[Principal, Depends(require(Action.READ_PEOPLE))]
CanManageUsers = Annotated[Principal, Depends(require(Action.MANAGE_PEOPLE))]
#: Listing: a platform admin names the organization with ``organization_id``.
CanListUsers = Annotated[Principal, Depends(in_organization(Action.READ_PEOPLE))]
#: Adding a user: a platform admin names the organization with ``organization_id`` (required for them).
CanAddUsers = Annotated[Principal, Depends(in_organization(Action.MANAGE_PEOPLE))]
