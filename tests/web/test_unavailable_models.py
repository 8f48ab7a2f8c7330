"""The models page tells administrators, in plain words, which model cannot run and why; staff see only
that it is not available."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.browser import looks_right
from tests.web.world import World

MODEL = "azure-openai/gpt-image-east"
REASON = "the provider has no such deployment or model (HTTP 404)"
LAST_ERROR = "HTTP 404: DeploymentNotFound: The API deployment for this resource does not exist."


def _unavailable_model(web_database: str) -> None:
    engine = create_engine(web_database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "INSERT INTO model_providers (provider_name, model_name, api_endpoint, cost_per_image_aud, "
                    "priority, unavailable_reason, unavailable_since, last_error) VALUES ('azure-openai', "
                    "'gpt-image-east', 'https://east.openai.azure.com/openai/deployments/gpt-image', 0.0700, 5, "
                    ":reason, now() - interval '2 hours', :error)"
                ),
                {"reason": REASON, "error": LAST_ERROR},
            )
            connection.execute(
                text(
                    "INSERT INTO provider_configs (provider_id, credential) SELECT id, "
                    """'{"kind": "environment", "variable": "AOAI_EAST_KEY"}'::jsonb FROM model_providers """
                    "WHERE model_name = 'gpt-image-east'"
                )
            )
    finally:
        engine.dispose()


def test_administrators_read_why_a_model_is_unavailable_and_staff_only_that_it_is(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _unavailable_model(web_database)

    for role, who in (("super_admin", World.platform()), ("org_admin", World.acme("org_admin"))):
        admin = sign_in(who, "/models")
        state = admin.locator(f"tr[data-model='{MODEL}'] [data-testid=state]")
        expect(state).to_contain_text(f"not available: {REASON}")
        expect(state.get_by_test_id("unavailable-since")).to_contain_text(
            "until an administrator changes its configuration"
        )
        expect(state.get_by_test_id("last-error")).to_have_text(f"Last error: {LAST_ERROR}")
        looks_right(admin, f"models-unavailable-{role.replace('_', '-')}")

    staff = sign_in(World.acme("power_user"), "/models")
    expect(staff.locator(f"tr[data-model='{MODEL}'] [data-testid=state]")).to_have_text(
        "not available now; Automatic uses the other models"
    )
    expect(staff.get_by_text("DeploymentNotFound")).to_have_count(0)
    expect(staff.get_by_role("button", name="Try gpt-image-east again")).to_have_count(0)

    # The operator fixed the deployment and tries the model again, with the keyboard.
    operator = sign_in(World.platform(), "/models")
    editor = operator.locator(f"[data-edit-model='{MODEL}']")
    expect(editor).to_contain_text("then try it again")
    editor.get_by_role("button", name="Try gpt-image-east again").focus()
    operator.keyboard.press("Enter")
    expect(operator.get_by_role("status")).to_have_text(f"Trying again: {MODEL}.")
    expect(operator.locator(f"tr[data-model='{MODEL}'] [data-testid=state]")).to_have_text("running")
    expect(operator.get_by_role("button", name="Try gpt-image-east again")).to_have_count(0)
    assert page_errors == []
