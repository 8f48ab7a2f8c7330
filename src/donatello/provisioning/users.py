"""SCIM Users: the people an identity provider provisions into one organization.

``userName`` is the sign-in e-mail, ``externalId`` the Entra object id (the sign-in matches it like the
token's ``oid``), ``active`` false deprovisions at once (``users.administration.set_active``: sessions and
API keys revoked, owned webhooks disabled, sign-in refused), DELETE hides the account for good. The
enterprise extension's attributes are kept as sent: ``department``, when the organization's mapping (or a
department code or name) recognises it, moves the user to that department; ``costCenter`` becomes the
person's cost centre, frozen on each of their cost events from then on (chargeback).
"""

from __future__ import annotations

import uuid
from typing import Any

from scim2_models import Context, InvalidValueException, NotFoundException, PatchOp, UniquenessException
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.errors import Conflict
from donatello.models import ScimGroup, User
from donatello.organizations import service as organizations
from donatello.provisioning import protocol, repository
from donatello.provisioning.resources import ENTERPRISE, ENTERPRISE_ATTRIBUTES, UserResource
from donatello.provisioning.service import ScimCaller
from donatello.tenancy import TENANT_CEILING, Role
from donatello.users import administration
from donatello.users.errors import EmailDomainNotOwned

CORE = "urn:ietf:params:scim:schemas:core:2.0:User"
#: The columns the kept attributes are stored in (users.email, azure_ad_id, display_name).
LENGTHS = {"userName": 255, "externalId": 255, "displayName": 255}
#: Enterprise attributes' limits (``users.cost_center`` is 100; the rest are kept in the profile).
ENTERPRISE_LENGTHS = {"costCenter": 100, "department": 255, "division": 255, "employeeNumber": 255}


def resource(user: User, groups: list[ScimGroup], base: str) -> Any:
    """The SCIM representation of an account."""
    profile = user.scim_profile or {}
    enterprise = {name: profile[name] for name in ENTERPRISE_ATTRIBUTES if profile.get(name)}
    document: dict[str, Any] = {
        "schemas": [CORE, ENTERPRISE] if enterprise else [CORE],
        "id": str(user.id),
        "externalId": user.azure_ad_id,
        "userName": user.email,
        "displayName": user.display_name,
        "active": None if profile.get("active_unassigned") else user.is_active,
        "name": profile.get("name"),
        "emails": profile.get("emails"),
        "groups": [
            {"value": str(group.id), "$ref": f"{base}/Groups/{group.id}", "display": group.display_name}
            for group in groups
        ]
        or None,
        "meta": {
            "resourceType": "User",
            "created": user.created_at.isoformat(),
            "lastModified": user.updated_at.isoformat(),
            "location": f"{base}/Users/{user.id}",
        },
    }
    if enterprise:
        document[ENTERPRISE] = enterprise
    return UserResource.model_validate({k: v for k, v in document.items() if v is not None})


def _profile(parsed: Any) -> dict[str, Any]:
    """What we keep as sent: name parts, e-mail addresses, the enterprise extension's attributes; and
    whether ``active`` was left unassigned (removed, or omitted from a replacement), which counts as not
    active."""
    document = protocol.dump(parsed)
    profile: dict[str, Any] = {key: document[key] for key in ("name", "emails") if document.get(key)}
    enterprise = document.get(ENTERPRISE) or {}
    for name, limit in ENTERPRISE_LENGTHS.items():
        value = enterprise.get(name)
        if isinstance(value, str) and len(value) > limit:
            raise InvalidValueException(detail=f"{name} is longer than {limit} characters")
    profile |= {name: enterprise[name] for name in ENTERPRISE_ATTRIBUTES if enterprise.get(name)}
    if parsed.active is None:
        profile["active_unassigned"] = True
    return profile


async def _department_id(session: AsyncSession, caller: ScimCaller, value: str | None) -> uuid.UUID | None:
    if not value:
        return None
    org = await repository.organization(session, str(caller.organization_id))
    if org is None:
        return None
    code = organizations.department_for(organizations.entra_mapping(org), value)
    department = await repository.department_code_or_name(session, caller.organization_id, code)
    return department.id if department else None


async def _found(session: AsyncSession, caller: ScimCaller, user_id: str) -> User:
    try:
        user = await repository.user(session, caller.organization_id, uuid.UUID(user_id))
    except ValueError:
        user = None
    # Another organization's user, and an account ranked above the token's org-admin reach, look
    # exactly like no user.
    if user is None or not administration.reaches(TENANT_CEILING, user.role):
        raise NotFoundException(detail=f"User {user_id} not found")
    return user


async def _represent(session: AsyncSession, users: list[User], base: str) -> list[Any]:
    groups = await repository.groups_of(session, [user.id for user in users])
    return [resource(user, groups[user.id], base) for user in users]


async def matching(
    session: AsyncSession, caller: ScimCaller, base: str, expression: str | None, parameters: Any
) -> list[Any]:
    """Users matching a filter (all of them without one), oldest first."""
    scim_filter = protocol.scim_filter(UserResource, expression)
    rows = await repository.users(
        session,
        caller.organization_id,
        user_name=protocol.equality(scim_filter, "userName"),
        external_id=protocol.equality(scim_filter, "externalId"),
    )
    represented = await _represent(session, rows, base)
    return [item for item in represented if scim_filter is None or scim_filter.match(item)]


async def get(session: AsyncSession, caller: ScimCaller, base: str, user_id: str) -> Any:
    user = await _found(session, caller, user_id)
    return (await _represent(session, [user], base))[0]


async def create(session: AsyncSession, caller: ScimCaller, base: str, payload: Any) -> Any:
    """A new account (active unless `active` is false); its first sign-in finds it by
    ``externalId`` (the object id) or, without one, by ``userName``."""
    parsed = protocol.parse(UserResource, payload, Context.RESOURCE_CREATION_REQUEST)
    protocol.within_lengths(parsed, LENGTHS)
    profile = _profile(parsed)
    try:
        user = await administration.create(
            session,
            caller.actor,
            caller.organization_id,
            email=parsed.user_name,
            role=Role.STANDARD_USER.value,
            department_id=await _department_id(session, caller, profile.get("department")),
            display_name=parsed.display_name,
            external_id=parsed.external_id,
            active=parsed.active is not False,
            scim_profile={k: v for k, v in profile.items() if k != "active_unassigned"},
            cost_center=profile.get("costCenter"),
        )
    except Conflict:
        raise UniquenessException(detail="userName or externalId is already in use") from None
    except EmailDomainNotOwned as refusal:
        raise InvalidValueException(detail=f"userName: {refusal.detail}") from None
    return (await _represent(session, [user], base))[0]


async def replace(session: AsyncSession, caller: ScimCaller, base: str, user_id: str, payload: Any) -> Any:
    user = await _found(session, caller, user_id)
    parsed = protocol.parse(UserResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    await _write(session, caller, user, parsed)
    return (await _represent(session, [user], base))[0]


async def patch(session: AsyncSession, caller: ScimCaller, base: str, user_id: str, payload: Any) -> Any:
    """Entra's PATCH: ops in any case, ``active`` as a bool or a string, value-filtered paths."""
    user = await _found(session, caller, user_id)
    operations = protocol.parse(PatchOp[UserResource], payload, Context.RESOURCE_PATCH_REQUEST)
    current = (await _represent(session, [user], base))[0]
    if protocol.apply_patch(operations, current):
        await _write(session, caller, user, current)
    return (await _represent(session, [user], base))[0]


async def delete(session: AsyncSession, caller: ScimCaller, user_id: str) -> None:
    """Deprovision for good: access cut as for ``active`` false, the account hidden; a user created
    again later is a new account and inherits nothing (no sessions, keys or webhooks)."""
    user = await _found(session, caller, user_id)
    await administration.delete(session, caller.actor, user)


async def _write(session: AsyncSession, caller: ScimCaller, user: User, parsed: Any) -> None:
    protocol.within_lengths(parsed, LENGTHS)
    if parsed.user_name != user.email:
        try:
            await administration.ensure_owned_domain(session, caller.organization_id, parsed.user_name)
        except EmailDomainNotOwned as refusal:
            raise InvalidValueException(detail=f"userName: {refusal.detail}") from None
    profile = _profile(parsed)
    wanted: dict[str, Any] = {
        "email": parsed.user_name,
        "azure_ad_id": parsed.external_id,
        "display_name": parsed.display_name,
        "scim_profile": profile,
        "cost_center": profile.get("costCenter"),
    }
    if profile.get("department") != (user.scim_profile or {}).get("department"):
        department_id = await _department_id(session, caller, profile.get("department"))
        if department_id is not None:
            wanted["department_id"] = department_id
    changed = sorted(key for key, value in wanted.items() if getattr(user, key) != value)
    for key in changed:
        setattr(user, key, wanted[key])
    if changed:
        if not await repository.add(session, user):
            raise UniquenessException(detail="userName or externalId is already in use")
        await administration.record(session, user, "user.updated", caller.actor, {"changed": changed})
    # An unassigned ``active`` fails closed: access is cut as for false until Entra sets it again.
    if bool(parsed.active) != user.is_active:
        await administration.set_active(session, caller.actor, user, bool(parsed.active))
    await session.refresh(user)
