from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import in_organization, require
from donatello.tenancy import Action, Principal

CanExportCosts = Annotated[Principal, Depends(require(Action.EXPORT_COSTS))]
#: Organization-wide: a platform admin names the organization with ``organization_id``.
CanExportOrganizationCosts = Annotated[Principal, Depends(in_organization(Action.EXPORT_COSTS))]
