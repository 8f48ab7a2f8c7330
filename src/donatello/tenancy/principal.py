"""The typed principal resolved once per request: a user (or an API key acting as its owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from donatello.tenancy.permissions import Permission


class Role(StrEnum):
    SUPER_ADMIN = "super_admin"
    ORG_ADMIN = "org_admin"
    DEPT_MANAGER = "dept_manager"
    POWER_USER = "power_user"
    STANDARD_USER = "standard_user"
    FINANCE = "finance"  # read-only cost reports and exports across its organization


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

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.SUPER_ADMIN

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles or self.is_platform_admin

    def can(self, permission: Permission) -> bool:
        """The role grants it and, for an API key, the key's scopes include it."""
        from donatello.tenancy.permissions import granted

        if not granted(self.role, permission):
            return False
        return self.api_key_id is None or permission.value in self.scopes
