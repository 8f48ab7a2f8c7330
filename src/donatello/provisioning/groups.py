"""SCIM Groups: the identity provider's groups and who is in them. A group grants nothing by itself;
the organization's Entra mapping — the one sign-in uses, keyed by the group's object id (``externalId``)
or its display name — turns membership into a role (``role_mapping``) and a department
(``group_mapping``). A membership change to a mapped group re-applies the mapping to the users it
touched at once (a user removed from every role-mapped group falls back to ``standard_user``)."""

from __future__ import annotations

import uuid
from typing import Any

from scim2_models import Context, InvalidValueException, NotFoundException, PatchOp
from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.models import ScimGroup
from donatello.organizations import service as organizations
from donatello.organizations.schemas import EntraMapping
from donatello.provisioning import protocol, repository
from donatello.provisioning.resources import GroupResource
from donatello.provisioning.service import ScimCaller
from donatello.tenancy import Role
from donatello.users import administration

CORE = "urn:ietf:params:scim:schemas:core:2.0:Group"
#: The columns the kept attributes are stored in (scim_groups.display_name, external_id).
LENGTHS = {"displayName": 255, "externalId": 255}


def resource(group: ScimGroup, members: list[uuid.UUID] | None, base: str) -> Any:
    document: dict[str, Any] = {
        "schemas": [CORE],
        "id": str(group.id),
        "externalId": group.external_id,
        "displayName": group.display_name,
        "members": [
            {"value": str(user_id), "$ref": f"{base}/Users/{user_id}", "type": "User"} for user_id in members
        ]
        if members
        else None,
        "meta": {
            "resourceType": "Group",
            "created": group.created_at.isoformat(),
            "lastModified": group.updated_at.isoformat(),
            "location": f"{base}/Groups/{group.id}",
        },
    }
    return GroupResource.model_validate({k: v for k, v in document.items() if v is not None})


async def _represent(
    session: AsyncSession, groups: list[ScimGroup], base: str, *, with_members: bool = True
) -> list[Any]:
    members = await repository.members(session, [group.id for group in groups]) if with_members else {}
    return [resource(group, members.get(group.id), base) for group in groups]


async def _found(session: AsyncSession, caller: ScimCaller, group_id: str) -> ScimGroup:
    try:
        group = await repository.group(session, caller.organization_id, uuid.UUID(group_id))
    except ValueError:
        group = None
    if group is None:
        raise NotFoundException(detail=f"Group {group_id} not found")
    return group


def _wants_members(parameters: Any) -> bool:
    """Entra asks ``excludedAttributes=members``: then the (possibly long) member list is not read."""
    excluded = [str(path).lower() for path in (getattr(parameters, "excluded_attributes", None) or [])]
    return not any(path.endswith("members") for path in excluded)


async def matching(
    session: AsyncSession, caller: ScimCaller, base: str, expression: str | None, parameters: Any
) -> list[Any]:
    """Groups matching a filter (all of them without one), oldest first."""
    scim_filter = protocol.scim_filter(GroupResource, expression)
    rows = await repository.groups(
        session, caller.organization_id, display_name=protocol.equality(scim_filter, "displayName")
    )
    represented = await _represent(session, rows, base, with_members=_wants_members(parameters))
    return [item for item in represented if scim_filter is None or scim_filter.match(item)]


async def get(session: AsyncSession, caller: ScimCaller, base: str, group_id: str, parameters: Any) -> Any:
    group = await _found(session, caller, group_id)
    return (await _represent(session, [group], base, with_members=_wants_members(parameters)))[0]


async def create(session: AsyncSession, caller: ScimCaller, base: str, payload: Any) -> Any:
    parsed = protocol.parse(GroupResource, payload, Context.RESOURCE_CREATION_REQUEST)
    protocol.within_lengths(parsed, LENGTHS)
    group = ScimGroup(
        organization_id=caller.organization_id,
        display_name=parsed.display_name,
        external_id=parsed.external_id,
    )
    await repository.add(session, group)
    await _write_members(session, caller, group, parsed, "scim_group.created")
    return (await _represent(session, [group], base))[0]


async def replace(session: AsyncSession, caller: ScimCaller, base: str, group_id: str, payload: Any) -> Any:
    group = await _found(session, caller, group_id)
    parsed = protocol.parse(GroupResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    await _write(session, caller, group, parsed)
    return (await _represent(session, [group], base))[0]


async def patch(session: AsyncSession, caller: ScimCaller, base: str, group_id: str, payload: Any) -> Any:
    """Entra adds and removes members one PATCH at a time (``members`` with a value list, or
    ``members[value eq "…"]``) and renames with ``displayName``."""
    group = await _found(session, caller, group_id)
    operations = protocol.parse(PatchOp[GroupResource], payload, Context.RESOURCE_PATCH_REQUEST)
    current = (await _represent(session, [group], base))[0]
    if protocol.apply_patch(operations, current):
        await _write(session, caller, group, current)
    return (await _represent(session, [group], base))[0]


async def delete(session: AsyncSession, caller: ScimCaller, group_id: str) -> None:
    group = await _found(session, caller, group_id)
    members = (await repository.members(session, [group.id]))[group.id]
    mapped = _is_mapped(await _mapping(session, caller), group)
    await repository.delete_group(session, group)
    await audit.record_event(
        session,
        "scim_group.deleted",
        resource=("scim_group", group.id),
        organization_id=caller.organization_id,
        actor=caller.actor,
        details={"members_removed": len(members)},
    )
    if mapped:
        await _remap(session, caller, set(members))


async def _write(session: AsyncSession, caller: ScimCaller, group: ScimGroup, parsed: Any) -> None:
    protocol.within_lengths(parsed, LENGTHS)
    was_mapped = _is_mapped(await _mapping(session, caller), group)
    renamed = (group.display_name, group.external_id) != (parsed.display_name, parsed.external_id)
    group.display_name, group.external_id = parsed.display_name, parsed.external_id
    await repository.flush(session)
    touched = await _write_members(session, caller, group, parsed, "scim_group.updated", renamed=renamed)
    if renamed and was_mapped:  # the old name or id may have been what mapped it
        await _remap(
            session, caller, set((await repository.members(session, [group.id]))[group.id]) | touched
        )


async def _write_members(
    session: AsyncSession,
    caller: ScimCaller,
    group: ScimGroup,
    parsed: Any,
    event: str,
    *,
    renamed: bool = True,
) -> set[uuid.UUID]:
    wanted: set[uuid.UUID] = set()
    for member in parsed.members or []:
        try:
            wanted.add(uuid.UUID(str(member.value)))
        except ValueError:
            raise InvalidValueException(
                detail=f"members: {member.value} is not a user of this service"
            ) from None
    known = {user.id for user in await repository.users(session, caller.organization_id, ids=list(wanted))}
    if unknown := wanted - known:
        raise InvalidValueException(detail=f"members: no such user {sorted(map(str, unknown))[0]}")
    added, removed = await repository.set_members(session, caller.organization_id, group.id, wanted)
    if added or removed or renamed or event == "scim_group.created":
        metadata = {
            "display_name": group.display_name,
            "members_added": len(added),
            "members_removed": len(removed),
        }
        await audit.record_event(
            session,
            event,
            resource=("scim_group", group.id),
            organization_id=caller.organization_id,
            actor=caller.actor,
            details=metadata,
        )
    if (added or removed) and _is_mapped(await _mapping(session, caller), group):
        await _remap(session, caller, added | removed)
    return added | removed


async def _mapping(session: AsyncSession, caller: ScimCaller) -> Any:
    org = await repository.organization(session, str(caller.organization_id))
    return organizations.entra_mapping(org) if org else EntraMapping()


def _is_mapped(mapping: Any, group: ScimGroup) -> bool:
    keys = {key for key in (group.external_id, group.display_name) if key}
    return bool(keys & (set(mapping.role_mapping) | set(mapping.group_mapping)))


async def _remap(session: AsyncSession, caller: ScimCaller, user_ids: set[uuid.UUID]) -> None:
    """Re-apply the organization's mapping to these users from all their provisioned groups."""
    if not user_ids:
        return
    mapping = await _mapping(session, caller)
    users = await repository.users(session, caller.organization_id, ids=list(user_ids))
    groups = await repository.groups_of(session, [user.id for user in users])
    for user in users:
        keys = tuple(
            key for group in groups[user.id] for key in (group.external_id, group.display_name) if key
        )
        changes: dict[str, Any] = {}
        role = organizations.mapped_role(mapping, keys)
        if role is not None and user.role not in (role.value, Role.SUPER_ADMIN.value):
            changes["role"] = {"from": user.role, "to": role.value}
        code = organizations.mapped_department(mapping, keys)
        department = (
            await repository.department_code_or_name(session, caller.organization_id, code) if code else None
        )
        if department is not None and department.id != user.department_id:
            changes["department_id"] = {"from": user.department_id, "to": department.id}
        if not changes:
            continue
        for key, change in changes.items():
            setattr(user, key, change["to"])
        await repository.flush(session)
        event = "user.role_changed" if "role" in changes else "user.updated"
        await administration.record(
            session, user, event, caller.actor, {"changes": changes, "source": "scim_groups"}
        )
