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


class EmailDomainNotOwned(ValidationFailed):
    type = "email-domain-not-owned"
    title = "The e-mail address is not at one of the organization's domains"

    def __init__(self, domain: str) -> None:
        super().__init__(
            f"{domain} is not one of this organization's e-mail domains; a platform administrator adds the "
            "organization's domains",
            field="email",
            domain=domain,
        )
