from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organization_id: uuid.UUID | None = Field(
        default=None,
        description="The organization to provision: required for a platform administrator (never their own "
        "by default); an org admin may omit it or give their own",
    )


class TokenIssued(BaseModel):
    """The provisioning token, shown once: Entra's enterprise app takes it as "Secret Token"."""

    token: str
    token_prefix: str
    organization_id: uuid.UUID
    tenant_url: str = Field(description="Entra's \"Tenant URL\": this service's /scim/v2")
