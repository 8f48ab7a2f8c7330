"""Every form with a bad value, in a real browser: the refusal is the same form again (422), the message
sits beside the field it concerns (``aria-invalid``, ``aria-describedby``), a summary at the top links to
the field, and what was typed is still there — never a page that only says to check the form."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from tests.support.browser import looks_right
from tests.web.world import World


def sent(page: Page, button: Locator) -> int:
    """Click a form's button; the status of the page it answered with."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        button.click()
    page.wait_for_load_state()
    return answer.value.status


def message_of(field: Locator) -> Locator:
    """The error message a field is described by."""
    described = (field.get_attribute("aria-describedby") or "").split()
    errors = [id_ for id_ in described if id_.endswith("-error")]
    assert errors, f"no error message describes the field {field}"
    return field.page.locator(f"#{errors[0]}")


def refused_beside(field: Locator, message: str, typed: str) -> None:
    """The field is marked invalid, described by a message saying ``message``, and still holds ``typed``."""
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_value(typed)
    expect(message_of(field)).to_contain_text(message)
    field_id = field.get_attribute("id")
    summary = field.page.get_by_test_id("error-summary").filter(
        has=field.page.locator(f'a[href="#{field_id}"]')
    )
    expect(summary).to_be_visible()
    expect(field.page.get_by_text("Check the form")).to_have_count(0)


def test_an_admin_adding_a_department_with_a_code_in_use_keeps_what_they_typed(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/departments")
    add = admin.get_by_role("region", name="Add a department")
    add.get_by_label("Name").fill("Marketing two")
    add.get_by_label("Code").fill("mktg")
    assert sent(admin, add.get_by_role("button", name="Add department")) == 422
    refused_beside(add.get_by_label("Code"), "MKTG is already another department's code", "mktg")
    expect(add.get_by_label("Name")).to_have_value("Marketing two")
    looks_right(admin, "form-errors-departments")

    add.get_by_label("Code").fill("MKTG2")
    add.get_by_role("button", name="Add department").click()
    expect(admin.get_by_role("status")).to_have_text("Added MKTG2.")
    page_errors.clear()  # the refused post's 422 is noted by the console on purpose


def test_a_webhook_to_an_address_that_does_not_resolve_is_said_beside_the_address(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    power = sign_in(World.acme("power_user"), "/webhooks")
    create = power.get_by_role("region", name="Add a webhook")
    create.get_by_label("Address").fill("https://no-such-host.invalid/hooks")
    create.get_by_label("generation.completed").check()
    assert sent(power, create.get_by_role("button", name="Add webhook")) == 422
    refused_beside(
        create.get_by_label("Address"),
        "No server could be found at no-such-host.invalid",
        "https://no-such-host.invalid/hooks",
    )
    expect(create.get_by_label("generation.completed")).to_be_checked()
    looks_right(power, "form-errors-webhooks")
    page_errors.clear()


def test_finance_exporting_a_reversed_range_keeps_the_days_and_choices(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    finance = sign_in(World.acme("finance"), "/exports")
    finance.get_by_label("From").fill("2026-11-30")
    finance.get_by_label("To (inclusive)").fill("2026-11-01")
    finance.get_by_label("Format").select_option("focus-csv")
    assert sent(finance, finance.get_by_role("button", name="Export")) == 422
    refused_beside(
        finance.get_by_label("From"), "The first day must be on or before the last day", "2026-11-30"
    )
    expect(finance.get_by_label("To (inclusive)")).to_have_value("2026-11-01")
    expect(finance.get_by_label("Format")).to_have_value("focus-csv")
    looks_right(finance, "form-errors-exports")
    page_errors.clear()


def test_budget_forms_say_what_is_wrong_beside_the_field(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/reports?period=2026-13")
    period = admin.get_by_label("Period (YYYY-MM)")
    expect(period).to_have_value("2026-13")
    expect(period).to_have_attribute("aria-invalid", "true")
    expect(admin.get_by_text("months run 01 to 12")).to_be_visible()
    expect(admin.get_by_test_id("departments")).to_be_visible()  # this month's figures, not a dead end
    reloaded = admin.goto(admin.url)
    assert reloaded is not None and reloaded.status == 422

    admin.get_by_role("link", name=re.compile("Marketing")).first.click()
    settings = admin.get_by_role("region", name="Budget settings")
    settings.get_by_label("Alert at (% used)").fill("50, 80, ninety")
    settings.get_by_label("Monthly budget (A$)").fill("4,800")
    assert sent(admin, settings.get_by_role("button", name="Save settings")) == 422
    refused_beside(
        settings.get_by_label("Alert at (% used)"), "whole percentages from 1 to 1000", "50, 80, ninety"
    )
    expect(settings.get_by_label("Monthly budget (A$)")).to_have_value("4,800")
    looks_right(admin, "form-errors-budget-settings")

    manager = sign_in(World.acme("dept_manager"), "/reports")
    ask = manager.get_by_role("region", name=re.compile("more budget", re.I))
    ask.get_by_label("Amount (A$)").fill("0")
    ask.get_by_label("Reason").fill("Launch campaign")
    assert sent(manager, ask.get_by_role("button", name="Request more budget")) == 422
    refused_beside(ask.get_by_label("Amount (A$)"), "more than A$0", "0")
    expect(ask.get_by_label("Reason")).to_have_value("Launch campaign")
    page_errors.clear()


def _budget_of(web_database: str, code: str, amount: str) -> None:
    engine = create_engine(web_database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "UPDATE department_budgets SET monthly_budget_aud = :amount WHERE department_id IN "
                    "(SELECT id FROM departments WHERE code = :code)"
                ),
                {"code": code, "amount": amount},
            )
    finally:
        engine.dispose()


def _remove_budget(web_database: str, code: str) -> None:
    engine = create_engine(web_database, poolclass=NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                text(
                    "DELETE FROM department_budgets WHERE department_id IN "
                    "(SELECT id FROM departments WHERE code = :code)"
                ),
                {"code": code},
            )
    finally:
        engine.dispose()


def test_the_generate_form_keeps_the_prompt_after_sending_and_beside_a_refusal(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    power = sign_in(World.acme("power_user"))
    prompt = power.get_by_label("Prompt", exact=True)
    prompt.fill("   ")
    assert sent(power, power.get_by_role("button", name="Generate", exact=True)) == 422
    refused_beside(prompt, "Describe the image you want", "   ")

    prompt.fill("A lighthouse at dusk, watercolour")
    power.get_by_label("Negative prompt").fill("people")
    power.get_by_label("Images").select_option("2")
    power.get_by_role("button", name="Generate", exact=True).click()
    power.wait_for_url(re.compile(r"generation="))
    expect(power.get_by_label("Prompt", exact=True)).to_have_value("A lighthouse at dusk, watercolour")
    expect(power.get_by_label("Negative prompt")).to_have_value("people")
    expect(power.get_by_label("Images")).to_have_value("2")
    page_errors.clear()


def test_a_department_without_a_budget_is_named_before_and_after_sending(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _remove_budget(web_database, "MKTG")
    staff = sign_in(World.acme("standard_user"))
    expect(staff.get_by_test_id("no-budget")).to_contain_text(
        "Marketing has no budget this month, so a request would be refused"
    )
    staff.get_by_label("Prompt", exact=True).fill("A quiet harbour")
    staff.get_by_role("button", name="Generate", exact=True).click()
    expect(staff.get_by_role("heading", name="Marketing has no budget this month")).to_be_visible()
    expect(
        staff.get_by_text("ask your organization's admins to set a budget for Marketing", exact=False)
    ).to_be_visible()
    assert re.search(r"Department [0-9a-f]{8}-", staff.content()) is None  # a name, never an id
    expect(staff.get_by_label("Prompt", exact=True)).to_have_value("A quiet harbour")
    looks_right(staff, "form-errors-generate-no-budget")
    page_errors.clear()


def test_an_api_key_without_a_permission_or_with_a_bad_expiry_is_the_form_again(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    power = sign_in(World.acme("power_user"), "/api-keys")
    create = power.get_by_role("region", name="Create a key")
    expect(create.get_by_label("Generate images")).to_be_visible()  # a person's words, the id beside
    create.get_by_label("Name").fill("CI pipeline")
    assert sent(power, create.get_by_role("button", name="Create key")) == 422
    permissions = create.get_by_role("group", name="Permissions")
    expect(permissions).to_contain_text("Choose at least one permission for the key.")
    expect(create.get_by_label("Name")).to_have_value("CI pipeline")
    expect(power.get_by_test_id("error-summary").locator('a[href="#create-scopes"]')).to_be_visible()

    create.get_by_label("Generate images").check()
    create.get_by_label("Expires after (days)").fill("731")
    create.get_by_label("Expires after (days)").evaluate("input => input.removeAttribute('max')")
    assert sent(power, create.get_by_role("button", name="Create key")) == 422
    refused_beside(create.get_by_label("Expires after (days)"), "from 1 to 730", "731")
    expect(create.get_by_label("Generate images")).to_be_checked()
    looks_right(power, "form-errors-api-keys")
    page_errors.clear()


def test_a_model_price_or_multiplier_refused_is_that_models_form_again(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    operator = sign_in(World.platform(), "/models")
    sketch = operator.locator("[data-edit-model='local/pillow-sketch']")
    sketch.get_by_label("Per image (AUD)").fill("0.05")
    sketch.get_by_label("Quality multipliers").fill("standard=1, hd=double")
    assert sent(operator, sketch.get_by_role("button", name="Save pillow-sketch")) == 422
    refused_beside(sketch.get_by_label("Quality multipliers"), "'hd=double' is not", "standard=1, hd=double")
    expect(sketch.get_by_label("Per image (AUD)")).to_have_value("0.05")
    looks_right(operator, "form-errors-models")

    adding = operator.get_by_role("region", name="Add a model")
    adding.get_by_label("Provider").fill("local")
    adding.get_by_label("Model", exact=True).fill("pillow-poster")
    adding.get_by_label("Per image (AUD)").fill("free")
    adding.get_by_label("Endpoint").fill("local://pillow")
    assert sent(operator, adding.get_by_role("button", name="Add model")) == 422
    refused_beside(adding.get_by_label("Per image (AUD)"), "must be a number", "free")
    expect(adding.get_by_label("Model", exact=True)).to_have_value("pillow-poster")
    expect(adding.get_by_label("Endpoint")).to_have_value("local://pillow")
    page_errors.clear()


def test_people_and_organization_settings_keep_the_choices_beside_a_refusal(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/people")
    row = admin.locator("li[data-email='standard_user@acme.com.au']")
    department = row.get_by_label("Department of standard_user@acme.com.au")
    # a department removed while the page was open: the option names one that is no longer there
    department.evaluate(
        "s => { s.options[1].value = '00000000-0000-4000-8000-000000000000'; s.selectedIndex = 1; }"
    )
    row.get_by_label("Role of standard_user@acme.com.au").select_option("power_user")
    assert sent(admin, row.get_by_role("button", name="Save")) == 422
    row = admin.locator("li[data-email='standard_user@acme.com.au']")
    department = row.get_by_label("Department of standard_user@acme.com.au")
    expect(department).to_have_attribute("aria-invalid", "true")
    expect(message_of(department)).to_have_text(
        "That department is no longer in the organization; choose another."
    )
    expect(row.get_by_label("Role of standard_user@acme.com.au")).to_have_value("power_user")
    looks_right(admin, "form-errors-people")

    admin.goto(admin.url.split("/people")[0] + "/organization")
    admin.get_by_label("The token carries one of these").check()
    admin.get_by_role("textbox", name="Authentication contexts").fill(" , ")
    assert sent(admin, admin.get_by_role("button", name="Save MFA rule")) == 422
    refused_beside(admin.get_by_role("textbox", name="Authentication contexts"), "at least one", " , ")
    expect(admin.get_by_label("The token carries one of these")).to_be_checked()
    page_errors.clear()


def test_a_budget_decision_and_a_gallery_range_are_said_beside_their_fields(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    manager = sign_in(World.acme("dept_manager"), "/reports")
    ask = manager.get_by_role("region", name=re.compile("more budget", re.I))
    ask.get_by_label("Amount (A$)").fill("250")
    ask.get_by_label("Reason").fill("Launch campaign")
    ask.get_by_role("button", name="Request more budget").click()
    expect(manager.get_by_role("status")).to_contain_text("was sent")

    admin = sign_in(World.acme("org_admin"), "/budget-requests")
    request = admin.locator("article.request").first
    request.get_by_label("Approve (A$)").fill("400")
    request.get_by_label("Reason").fill("Approved for the launch")
    assert sent(admin, request.get_by_role("button", name="Approve")) == 422
    request = admin.locator("article.request").first
    refused_beside(request.get_by_label("Approve (A$)"), "more than", "400")
    expect(request.get_by_label("Reason")).to_have_value("Approved for the launch")
    looks_right(admin, "form-errors-budget-decision")

    response = admin.goto(admin.url.split("/budget-requests")[0] + "/gallery?from=2026-12-05&to=2026-12-01")
    assert response is not None and response.status == 422
    start = admin.get_by_label("From")
    expect(start).to_have_value("2026-12-05")
    expect(start).to_have_attribute("aria-invalid", "true")
    expect(admin.get_by_text("The From day is after the To day")).to_be_visible()
    expect(admin.get_by_label("To")).to_have_value("2026-12-01")
    response = admin.goto(admin.url.split("/gallery")[0] + "/gallery?from=yesterday")
    assert response is not None and response.status == 422
    expect(message_of(admin.get_by_label("From"))).to_have_text(
        "Give the day as a date (YYYY-MM-DD). Showing every day instead."
    )
    page_errors.clear()


def test_a_reconciliation_period_that_is_not_a_month_is_said_beside_the_period(
    world: World, sign_in: Callable[..., Page], page_errors: list[str], tmp_path: Path
) -> None:
    bill = tmp_path / "bill.csv"
    bill.write_text("date,model,cost,currency\n2031-04-03,azure-openai/gpt-image-1.5,1.25,AUD\n")
    finance = sign_in(World.acme("finance"), "/reconciliations")
    finance.get_by_label("Cost file").set_input_files(bill)
    finance.get_by_label("Format").select_option("generic")
    finance.get_by_label("Period (optional)").fill("2031-13")
    finance.get_by_role("button", name="Upload and compare").click()  # sent by the page's script
    period = finance.get_by_label("Period (optional)")
    expect(period).to_have_attribute("aria-invalid", "true")
    expect(message_of(period)).to_contain_text("period must be a month (YYYY-MM)")
    expect(period).to_have_value("2031-13")
    expect(finance.get_by_label("Format")).to_have_value("generic")
    looks_right(finance, "form-errors-reconciliation")
    page_errors.clear()


def test_a_refused_page_says_who_may_use_it_in_plain_words(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    finance = sign_in(World.acme("finance"), "/reports")
    response = finance.goto(finance.url.split("/reports")[0] + "/audit")
    assert response is not None and response.status == 403
    expect(finance.get_by_text("Only organization admins can read the audit log.")).to_be_visible()
    assert "audit:read" not in finance.content() and "permission" not in finance.content()
    page_errors.clear()


def test_a_delivery_that_cannot_connect_is_summarised_with_the_detail_folded(
    world: World, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    with socket.socket() as closed:  # a port nothing listens on once this is closed
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    power = sign_in(World.acme("power_user"), "/webhooks")
    create = power.get_by_role("region", name="Add a webhook")
    create.get_by_label("Address").fill(f"https://127.0.0.1:{port}/hooks")
    create.get_by_label("generation.completed").check()
    create.get_by_role("button", name="Add webhook").click()
    power.get_by_role("button", name="Ping").click()
    failure = power.get_by_test_id("delivery-failure").first
    expect(failure).to_have_text("The address could not be reached.", timeout=20_000)
    detail = power.locator("details.technical").first
    detail.get_by_text("Technical detail").click()
    expect(detail).to_contain_text("ConnectError")
    looks_right(power, "webhook-unreachable")
    page_errors.clear()


def test_staff_asking_for_more_from_a_refusal_keep_what_they_typed(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _budget_of(web_database, "MKTG", "0.0001")  # a hard budget nothing fits in
    staff = sign_in(World.acme("standard_user"))
    staff.get_by_label("Prompt", exact=True).fill("A quiet harbour")
    staff.get_by_role("button", name="Generate", exact=True).click()
    expect(staff.get_by_role("heading", name="Not enough budget left")).to_be_visible()
    amount = staff.get_by_label("Amount (A$)")
    amount.fill("lots")
    staff.get_by_label("Reason").fill("A client pitch tomorrow")
    assert sent(staff, staff.get_by_role("button", name="Send the request")) == 422
    amount = staff.get_by_label("Amount (A$)")
    expect(amount).to_have_attribute("aria-invalid", "true")
    expect(amount).to_have_value("lots")
    expect(message_of(amount)).to_contain_text("Give an amount in dollars and cents")
    expect(staff.get_by_label("Reason")).to_have_value("A client pitch tomorrow")
    looks_right(staff, "form-errors-my-request")
    page_errors.clear()
