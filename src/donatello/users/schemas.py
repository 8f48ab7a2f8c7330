from __future__ import annotations

import uuid

from pydantic import BaseModel

from donatello.tenancy import Role


class Me(BaseModel):
    user_id: uuid.UUID
    organization_id: uuid.UUID
    department_id: uuid.UUID | None
    role: Role
    email: str
