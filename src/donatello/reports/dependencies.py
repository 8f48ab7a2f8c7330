from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import in_organization, require
from donatello.tenancy import Action, Principal

CanReadReports = Annotated[Principal, Depends(require(Action.READ_REPORTS))]  # managers: own dept
#: Organization-wide: a platform admin names the organization with ``organization_id``.
CanReadOrganizationReports = Annotated[Principal, Depends(in_organization(Action.READ_REPORTS))]
