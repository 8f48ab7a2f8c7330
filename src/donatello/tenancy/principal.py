"""The typed principal resolved once per request: a user (or an API key acting as its owner)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum


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

    @property
    def is_platform_admin(self) -> bool:
        return self.role is Role.SUPER_ADMIN

    def has_role(self, *roles: Role) -> bool:
        return self.role in roles or self.is_platform_admin
