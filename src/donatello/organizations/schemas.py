from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


AuthenticationContext = Annotated[str, Field(pattern=r"^c([1-9]|[1-9][0-9])$", description="e.g. c1")]


class MfaRule(BaseModel):
    """How a sign-in proves multi-factor authentication (kept in settings["mfa"]):

    * ``amr``: the token's ``amr`` claim says ``mfa`` (Entra v1 tokens; v2 tokens carry no ``amr``);
    * ``conditional-access``: trust the identity provider — the tenant's Conditional Access policy
      requires MFA for this application, so every sign-in that reaches us passed it;
    * ``authentication-context``: the token's ``acrs`` claim holds one of ``contexts`` (Conditional
      Access authentication contexts that require MFA, e.g. ``c1``).
    """

    model_config = ConfigDict(extra="forbid")

    rule: Literal["amr", "conditional-access", "authentication-context"] = "amr"
    contexts: list[AuthenticationContext] = Field(default_factory=list, max_length=25)

    @model_validator(mode="after")
    def _contexts_fit_the_rule(self) -> Self:
        if (self.rule == "authentication-context") != bool(self.contexts):
            raise ValueError("contexts are listed exactly when the rule is authentication-context")
        return self

    def satisfied_by(self, amr_mfa: bool, acrs: frozenset[str]) -> bool:
        if self.rule == "conditional-access":
            return True
        if self.rule == "authentication-context":
            return bool(acrs & set(self.contexts))
        return amr_mfa


class OrganizationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=255)
    domain: str = Field(max_length=255, pattern=DOMAIN_REGEX)
    email_domains: EmailDomains = Field(default_factory=list)
    azure_tenant_id: str | None = Field(default=None, pattern=_TENANT)
    settings: JsonSettings = Field(default_factory=dict)
    is_platform: bool = Field(
        default=False,
        description="The platform's own organization, holding its administrators (there is at most one)",
    )


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
