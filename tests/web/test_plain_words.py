"""What pages say to people instead of developer words: who may do what a refused page does, API-key
permissions, a failed webhook delivery, a form's problems mapped from the API's problem details."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from donatello.core.errors import Conflict, Forbidden, ValidationFailed
from donatello.tenancy import Permission
from donatello.web import messages
from donatello.web.forms import FormState


def test_a_refused_page_says_which_roles_may_use_it_never_the_permission_id() -> None:
    said = messages.needs(Permission.REPORTS_READ)
    assert said == "Only organization admins, department managers and finance can read budget reports."
    assert messages.needs(Permission.ORGANIZATIONS_MANAGE) == "Only platform admins can manage organizations."
    for permission in Permission:
        assert permission.value not in messages.needs(permission)


def test_api_key_permissions_read_as_what_the_key_may_do() -> None:
    assert messages.scope_label(Permission.GENERATIONS_CREATE) == "Generate images"
    assert messages.scope_label(Permission.API_KEYS_OWN) == "Create and revoke your own API keys"


@pytest.mark.parametrize(
    ("error", "status", "summary"),
    [
        ("ConnectError: All connection attempts failed", None, "The address could not be reached."),
        ("timed out", None, "The address did not answer in time."),
        ("HTTP 500", 500, "The address answered with an error (HTTP 500)."),
        ("refused: hooks.example resolves to a private address", None, "it points into a private network"),
        ("ConnectError: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed", None, "certificate"),
    ],
)
def test_a_failed_delivery_is_summarised_in_words(error: str, status: int | None, summary: str) -> None:
    assert summary in messages.delivery_failure(error, status)


class _Webhook(BaseModel):
    webhook_url: str = Field(pattern=r"^https://")
    event_types: list[str] = Field(min_length=1)


def test_a_form_maps_the_api_problem_fields_onto_its_own_and_keeps_what_was_typed() -> None:
    typed = FormState("create", {"url": "http://x", "events": []})
    with pytest.raises(ValidationError) as refused:
        _Webhook(webhook_url="http://x", event_types=[])
    state = typed.rejecting(
        refused.value, fields={"webhook_url": "url", "event_types": "events"}, hints={"url": "Use https://."}
    )
    assert state.status == 422 and state.value("url") == "http://x"
    assert state.error("url") == "Use https://."
    assert state.error("events") == "List should have at least 1 item after validation, not 0."
    assert state.id_of("url") == "create-url"

    named = typed.rejecting(
        ValidationFailed("hooks.invalid does not resolve", field="webhook_url"), fields={"webhook_url": "url"}
    )
    assert named.error("url") == "hooks.invalid does not resolve"
    by_type = FormState("add").rejecting(Conflict("code taken"), types={"conflict": "code"})
    assert by_type.error("code") == "code taken"
    assert FormState().rejecting(Conflict("no field")).whole_form_error == "no field"


def test_a_refusal_that_is_not_the_forms_to_fix_still_becomes_the_error_page() -> None:
    with pytest.raises(Forbidden):
        FormState().rejecting(Forbidden("Only organization admins can add and change departments."))
