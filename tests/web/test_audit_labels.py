"""Who acted and where a resource lives, as the audit log page writes them — old rows included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from donatello.audit.schemas import AuditEventRead
from donatello.web.audit_log.labels import actor, resource_href

ANA = uuid.uuid4()


def _event(**fields: Any) -> AuditEventRead:
    base: dict[str, Any] = {
        "id": uuid.uuid4(),
        "organization_id": uuid.uuid4(),
        "user_id": "system",
        "timestamp": datetime(2026, 12, 1, tzinfo=UTC),
        "event_type": "budget.changed",
        "action": "changed",
        "resource_type": "department_budget",
        "resource_id": None,
        "user_email": None,
        "ip_address": None,
        "user_agent": None,
        "request_id": None,
        "status": "success",
        "error_message": None,
        "metadata": {},
    }
    return AuditEventRead.model_validate(base | fields)


def test_an_actor_is_a_person_or_names_what_acted_never_an_id() -> None:
    emails = {ANA: "ana@acme.com.au"}
    assert actor(_event(user_id=str(ANA)), emails) == "ana@acme.com.au"  # the worker's, id alone
    assert actor(_event(user_id=str(ANA), user_email="ana@acme.com.au"), {}) == "ana@acme.com.au"
    assert actor(_event(user_id=str(uuid.uuid4())), emails) == "a person no longer in the organization"
    assert actor(_event(metadata={"actor": "provisioning_token", "token_id": "t"}), emails) == "SCIM"
    assert actor(_event(metadata={"actor": "operator"}), emails) == "platform"
    assert actor(_event(), emails) == "system"


def test_a_resource_links_to_its_page_and_an_old_budget_row_to_its_department() -> None:
    department, budget = uuid.uuid4(), uuid.uuid4()
    new = _event(resource_id=str(budget), metadata={"department_id": str(department)})
    old = _event(resource_id=str(department))  # before budgets had an id of their own in the log
    assert resource_href(new, {}) == resource_href(old, {}) == f"/reports/{department}"
    generation = _event(resource_type="generation", resource_id=str(budget))
    assert resource_href(generation, {}) == f"/gallery/{budget}"
    person = _event(resource_type="user", resource_id=str(ANA))
    assert resource_href(person, {ANA: "ana+x@acme.com.au"}) == "/people?search=ana%2Bx%40acme.com.au"
    assert resource_href(_event(resource_type="webhook", resource_id="w1"), {}) == "/webhooks/w1"
    assert resource_href(_event(resource_type="cost_event", resource_id="c1"), {}) is None
