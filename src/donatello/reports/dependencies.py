from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from donatello.auth.dependencies import require
from donatello.tenancy import Principal
from donatello.tenancy.permissions import Permission

CanReadReports = Annotated[Principal, Depends(require(Permission.REPORTS_READ))]  # managers: own dept
CanExportCosts = Annotated[Principal, Depends(require(Permission.EXPORTS_READ))]
