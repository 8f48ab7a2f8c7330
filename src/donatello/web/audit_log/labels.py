"""How the audit log names who acted and where a resource lives, for people: an e-mail (or "system",
"SCIM", "platform"), never a bare id; a resource linked to its page where it has one."""

from __future__ import annotations

import uuid
from urllib.parse import quote

from donatello.audit.schemas import AuditEventRead

#: Who acted when no person did, by the actor the event's metadata names.
NOT_A_PERSON = {
    "provisioning_token": "SCIM",
    "operator": "platform",
    "unauthenticated": "someone not signed in",
}


def actor(event: AuditEventRead, emails: dict[uuid.UUID, str]) -> str:
    """The person's e-mail: as recorded, else (work the system did for them, such as a generation the
    worker completed, recorded with their id alone) looked up; "system" when nobody acted."""
    if event.user_email:
        return event.user_email
    if event.user_id != "system":
        try:
            return emails.get(uuid.UUID(event.user_id), "a person no longer in the organization")
        except ValueError:
            return "system"
    return NOT_A_PERSON.get(str(event.metadata.get("actor", "")), "system")


def person_ids(events: list[AuditEventRead]) -> set[uuid.UUID]:
    """Ids of people to name: actors recorded without an e-mail, and users that are the resource."""
    found: set[uuid.UUID] = set()
    for event in events:
        for value in (
            event.user_id if not event.user_email else None,
            event.resource_id if event.resource_type == "user" else None,
        ):
            try:
                found.add(uuid.UUID(str(value)))
            except ValueError:
                continue
    return found


def resource_href(event: AuditEventRead, emails: dict[uuid.UUID, str]) -> str | None:
    """The page a resource is shown on: a generation's, a budget's department dashboard, a person in
    People, a webhook's; None when it has none."""
    rid = event.resource_id
    if not rid:
        return None
    kind = event.resource_type
    if kind == "generation":
        return f"/gallery/{rid}"
    if kind == "department_budget":
        # Older budget events named the department itself as the resource, without a department_id.
        return f"/reports/{event.metadata.get('department_id') or rid}"
    if kind == "department":
        return f"/reports/{rid}"
    if kind == "webhook":
        return f"/webhooks/{rid}"
    if kind == "budget_increase_request":
        return "/budget-requests"
    if kind == "user":
        try:
            email = emails.get(uuid.UUID(rid))
        except ValueError:
            return None
        return f"/people?search={quote(email)}" if email else None
    return None
