from __future__ import annotations

from donatello.core.errors import Conflict


class OrganizationTaken(Conflict):
    type = "organization-taken"
    title = "Domain or Entra tenant already belongs to an organization"
