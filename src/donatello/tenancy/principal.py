"""The typed principal resolved once per request: a user (or an API key acting as its owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime

from donatello.tenancy.permissions import Permission, Role, granted


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    role: Role
    email: str
    api_key_id: uuid.UUID | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    session_id: uuid.UUID | None = None
    mfa_enabled: bool = False
    mfa_grace_period_expires_at: datetime | None = None
    #: Whether the sign-in behind this request met the organization's MFA rule; None when no sign-in
    #: says (an API key, an operator token, local sign-in): then the user's ``mfa_enabled`` stands.
    session_mfa: bool | None = None
    #: A platform admin acting on the organization they named (``in_organization``): scoped to it.
    chose_organization: bool = False
    #: The organization's time-zone setting as read with the principal (None: not set, or not read), so
    #: admission can place the budget period without reading the organization again.
    organization_timezone: str | None = None

    @property
    def mfa_proved(self) -> bool:
        """Whether this request's credential counts as multi-factor: its sign-in met the organization's
        MFA rule, or, when no sign-in says (API key, operator token), the person has met it before."""
        return self.session_mfa if self.session_mfa is not None else self.mfa_enabled

    def in_mfa_grace(self, now: datetime) -> bool:
        deadline = self.mfa_grace_period_expires_at
        return deadline is not None and deadline > now

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.SUPER_ADMIN

    @property
    def platform_wide(self) -> bool:
        """Sees every organization: a platform admin who has not chosen one for this request."""
        return self.is_platform_admin and not self.chose_organization

    def acting_in(self, organization_id: uuid.UUID) -> Principal:
        """This platform admin acting on ``organization_id`` (as if a member without a department)."""
        if organization_id == self.organization_id:
            return self
        return replace(
            self,
            organization_id=organization_id,
            department_id=None,
            chose_organization=True,
            organization_timezone=None,
        )

    def can(self, permission: Permission) -> bool:
        """The one authorization check: the role grants it and, for an API key, the key's scopes
        include it (a key never reaches beyond its scopes, whatever its owner's role)."""
        if not granted(self.role, permission):
            return False
        return self.api_key_id is None or permission.value in self.scopes

    @property
    def reaches_every_department(self) -> bool:
        """Whether the principal's permissions apply organization-wide; a department manager's apply to
        their own department only."""
        return self.role is not Role.DEPT_MANAGER

    def reaches_department(self, department_id: uuid.UUID | None) -> bool:
        """Whether what the principal ``can`` do extends to ``department_id`` (inside the organization
        that tenancy ``scope`` already fixed): everywhere for organization-wide roles, their own
        department for a department manager."""
        return self.reaches_every_department or (
            department_id is not None and department_id == self.department_id
        )
