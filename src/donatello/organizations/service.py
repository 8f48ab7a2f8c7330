"""Organizations (tenants): created and changed by platform administrators; looked up by Entra tenant."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.errors import NotFound, ValidationFailed
from donatello.core.pagination import Page, decode_cursor, page_of
from donatello.models import Organization
from donatello.organizations import repository
from donatello.organizations.errors import OrganizationTaken
from donatello.organizations.schemas import (
    EntraMapping,
    MfaRule,
    OrganizationCreate,
    OrganizationRead,
    OrganizationUpdate,
)
from donatello.tenancy import RANK, Action, Principal, Role, ensure


async def active_for_tenant(session: AsyncSession, azure_tenant_id: str) -> Organization | None:
    """The active organization an Entra tenant signs in to (caller runs under platform scope)."""
    org = await repository.by_tenant_id(session, azure_tenant_id)
    return org if org is not None and org.is_active else None


def entra_mapping(org: Organization) -> EntraMapping:
    try:
        return EntraMapping.model_validate((org.settings or {}).get("entra") or {})
    except ValidationError:
        return EntraMapping()


def mapped_role(mapping: EntraMapping, app_roles: tuple[str, ...]) -> Role | None:
    """The highest role the organization maps the token's app roles (or the user's provisioned groups,
    by object id or display name) to; never super_admin from a tenant.

    None when the organization maps no roles (roles are then managed in DonatelloAI only); the default
    role when a mapping exists but none of the token's roles is in it.
    """
    if not mapping.role_mapping:
        return None
    candidates = [
        mapping.role_mapping[value]
        for value in app_roles
        if value in mapping.role_mapping and mapping.role_mapping[value] is not Role.SUPER_ADMIN
    ]
    return max(candidates, key=lambda role: RANK[role]) if candidates else Role.STANDARD_USER


def mapped_department(mapping: EntraMapping, groups: tuple[str, ...] | None) -> str | None:
    """The department code of the first mapped group the user belongs to (None: keep as is). Groups are
    named by object id (sign-in tokens, SCIM ``externalId``) or, for provisioned groups, display name."""
    if groups is None:
        return None
    member_of = set(groups)
    return next((code for group, code in mapping.group_mapping.items() if group in member_of), None)


def department_for(mapping: EntraMapping, value: str) -> str:
    """The department code an Entra ``department`` attribute stands for: the organization's
    ``department_mapping`` when it names the value, else the value itself (matched as code or name)."""
    return mapping.department_mapping.get(value, value)


def mfa_rule(org: Organization) -> MfaRule:
    """How the organization's sign-ins prove MFA (``amr`` when it has not said)."""
    try:
        return MfaRule.model_validate((org.settings or {}).get("mfa") or {})
    except ValidationError:
        return MfaRule()


def _check_settings(settings: dict[str, Any]) -> None:
    try:
        EntraMapping.model_validate(settings.get("entra") or {})
    except ValidationError as exc:
        raise ValidationFailed(
            "settings.entra is not a valid role/group mapping", field="settings.entra"
        ) from exc
    try:
        MfaRule.model_validate(settings.get("mfa") or {})
    except ValidationError as exc:
        raise ValidationFailed("settings.mfa is not a valid MFA rule", field="settings.mfa") from exc


async def set_mfa_rule(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, rule: MfaRule
) -> MfaRule:
    """An org admin (or a platform admin) declares how the organization's sign-ins prove MFA; audited.
    It applies from each person's next sign-in."""
    ensure(principal, Action.CHANGE_ORGANIZATION_SETTINGS)
    org = await get(session, principal, organization_id)
    before = mfa_rule(org)
    if before == rule:
        return rule
    org.settings = {**(org.settings or {}), "mfa": rule.model_dump()}
    await repository.save(session, org)
    await audit.record_event(
        session,
        "organization.mfa_rule_changed",
        action="organization_updated",
        resource=("organization", org.id),
        organization_id=org.id,
        actor=principal,
        details={"changes": {"mfa": {"from": before.model_dump(), "to": rule.model_dump()}}},
    )
    return rule


def _others(primary: str, domains: list[str]) -> list[str]:
    """The owned domains besides the primary one: lower case, each once, sorted."""
    return sorted({domain.lower() for domain in domains} - {primary})


async def _ensure_domains_free(
    session: AsyncSession, domains: list[str], organization_id: uuid.UUID | None
) -> None:
    """No e-mail domain belongs to two active organizations (as no verified domain belongs to two Entra
    tenants): people are created only at their organization's domains, so an address names its tenant."""
    await repository.lock_domains(session)
    if taken := await repository.domains_taken(session, domains, organization_id):
        raise OrganizationTaken(
            f"The e-mail domain {taken[0]} already belongs to another organization", domains=taken
        )


async def list_organizations(
    session: AsyncSession, is_active: bool | None, cursor: str | None, limit: int
) -> Page[OrganizationRead]:
    rows = await repository.page(
        session, is_active=is_active, after=decode_cursor(cursor, 2), limit=limit + 1
    )
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.name, row.id])
    items = [OrganizationRead.model_validate(row) for row in kept]
    return Page[OrganizationRead](items=items, next_cursor=next_cursor)


async def get(session: AsyncSession, principal: Principal, organization_id: uuid.UUID) -> Organization:
    org = await repository.get(session, principal, organization_id)
    if org is None:
        raise NotFound("organization", organization_id)
    return org


async def find(session: AsyncSession, organization_id: uuid.UUID) -> Organization:
    """An organization by id, for a caller already narrowed to it (or platform-wide: a job, the CLI)."""
    org = await repository.by_id(session, organization_id)
    if org is None:
        raise NotFound("organization", organization_id)
    return org


async def create(session: AsyncSession, principal: Principal, body: OrganizationCreate) -> Organization:
    """A platform administrator adds a tenant (or, once, the platform's own organization, where platform
    administrators are then added); domains and Entra tenant id are unique."""
    ensure(principal, Action.MANAGE_ORGANIZATIONS)
    _check_settings(body.settings)
    domain = body.domain.lower()
    email_domains = _others(domain, body.email_domains)
    await _ensure_domains_free(session, [domain, *email_domains], None)
    org = Organization(
        name=body.name,
        domain=domain,
        email_domains=email_domains,
        azure_tenant_id=body.azure_tenant_id,
        settings=body.settings,
        is_platform=body.is_platform,
    )
    if not await repository.save(session, org):
        raise OrganizationTaken(
            "The domain, the Entra tenant or (for a platform organization) the platform is already taken"
        )
    await audit.record_event(
        session,
        "organization.created",
        action="organization_created",
        resource=("organization", org.id),
        organization_id=org.id,
        actor=principal,
        details={"name": org.name, "domain": org.domain, "email_domains": org.email_domains},
    )
    return org


async def update(
    session: AsyncSession, principal: Principal, organization_id: uuid.UUID, body: OrganizationUpdate
) -> Organization:
    """Rename, (de)activate, link to an Entra tenant or reconfigure; the audit event lists the changes."""
    ensure(principal, Action.MANAGE_ORGANIZATIONS)
    org = await get(session, principal, organization_id)
    values = body.model_dump(exclude_unset=True)
    if values.get("settings") is not None:
        _check_settings(values["settings"])
    if values.get("email_domains") is not None:
        values["email_domains"] = _others(org.domain, values["email_domains"])
        await _ensure_domains_free(session, values["email_domains"], org.id)
    changes = {
        name: {"from": getattr(org, name), "to": value}
        for name, value in values.items()
        if (value is not None or name == "azure_tenant_id") and getattr(org, name) != value
    }
    if not changes:
        return org
    for name, change in changes.items():
        setattr(org, name, change["to"])
    if not await repository.save(session, org):
        raise OrganizationTaken()
    await audit.record_event(
        session,
        "organization.updated",
        action="organization_updated",
        resource=("organization", org.id),
        organization_id=org.id,
        actor=principal,
        details={"changes": changes},
    )
    return org
