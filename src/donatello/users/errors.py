from __future__ import annotations

from donatello.core.errors import Forbidden, ValidationFailed


class CannotChangeOwnAccess(Forbidden):
    type = "cannot-change-own-access"
    title = "You cannot change your own role or active state"


class RoleAboveYourOwn(Forbidden):
    type = "role-above-your-own"
    title = "You cannot grant or change a role above your own"


class OrganizationRequired(ValidationFailed):
    type = "organization-required"
    title = "A platform administrator names the organization to act on (organization_id)"
