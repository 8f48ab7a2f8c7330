from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from donatello.core.json_values import Settings as JsonSettings
from donatello.models.organizations import DOMAIN_REGEX
from donatello.tenancy import Role

_TENANT = r"^[0-9a-fA-F-]{36}$"

Domain = Annotated[str, Field(max_length=255, pattern=DOMAIN_REGEX)]
EmailDomains = Annotated[
    list[Domain],
    Field(
        max_length=50,
        description="E-mail domains the organization owns besides `domain` (as its Entra tenant's verified "
        "domains): people are created only at these; none may belong to another organization",
    ),
]


class EntraMapping(BaseModel):
    """How Entra app roles and groups map to our roles and departments (kept in settings["entra"])."""

    model_config = ConfigDict(extra="forbid")

    role_mapping: dict[str, Role] = Field(default_factory=dict, description="app role value -> role")
    group_mapping: dict[str, str] = Field(
        default_factory=dict, description="group object id (or provisioned group name) -> department code"
    )
    department_mapping: dict[str, str] = Field(
        default_factory=dict,
        description="Entra user attribute 'department' (SCIM enterprise extension) -> department code; "
        "a value not listed is matched against department codes, then names",
    )


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    domain: str = Field(max_length=255, pattern=DOMAIN_REGEX)
    email_domains: EmailDomains = Field(default_factory=list)
    azure_tenant_id: str | None = Field(default=None, pattern=_TENANT)
    settings: JsonSettings = Field(default_factory=dict)


class OrganizationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, min_length=1, max_length=255)
    email_domains: EmailDomains | None = None
    azure_tenant_id: str | None = Field(default=None, pattern=_TENANT)
    is_active: bool | None = None
    settings: JsonSettings | None = None


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    domain: str
    email_domains: list[str]
    azure_tenant_id: str | None
    is_platform: bool
    is_active: bool
    settings: dict[str, Any]
    created_at: datetime
    updated_at: datetime
