from __future__ import annotations

from donatello.core.errors import Forbidden


class CannotChangeOwnAccess(Forbidden):
    type = "cannot-change-own-access"
    title = "You cannot change your own role or active state"


class RoleAboveYourOwn(Forbidden):
    type = "role-above-your-own"
    title = "You cannot grant or change a role above your own"
