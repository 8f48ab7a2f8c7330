from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import in_organization, require
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission

CanExportCosts = Annotated[Principal, Depends(require(Permission.EXPORTS_READ))]
#: Organization-wide: a platform admin names the organization with ``organization_id``.
CanExportOrganizationCosts = Annotated[Principal, Depends(in_organization(Permission.EXPORTS_READ))]
