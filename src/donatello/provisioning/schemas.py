from __future__ import annotations

import uuid

from pydantic import BaseModel, Field


class TokenIssued(BaseModel):
    """The provisioning token, shown once: Entra's enterprise app takes it as "Secret Token"."""

    token: str
    token_prefix: str
    organization_id: uuid.UUID
    tenant_url: str = Field(description="Entra's \"Tenant URL\": this service's /scim/v2")
