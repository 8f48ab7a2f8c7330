"""What an org admin expects of the People page, in a real browser: adding a person ahead of their first
sign-in (refused beside the field at a domain the organization does not own or for an address in use,
with what was typed kept), finding people by part of their name or e-mail, and seeing when each last
signed in — the person added signs in through Entra and the page says so. A department manager reads
their people without the controls."""

from __future__ import annotations

from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import looks_right
from tests.support.idp import EntraUser
from tests.support.live_server import LiveServer
from tests.web.world import ACME_TID, World


def sent(page: Page, button_name: str) -> int:
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.get_by_role("button", name=button_name).click()
    page.wait_for_load_state()
    return answer.value.status


def test_an_org_admin_adds_a_person_who_then_signs_in_and_is_found_by_name(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/people")
    add = admin.get_by_role("region", name="Add a person")
    looks_right(admin, "people-add")

    add.get_by_label("Work e-mail").fill("robin@elsewhere.example")
    add.get_by_label("Name (optional)").fill("Robin Example")
    add.get_by_label("Role").select_option("power_user")
    add.get_by_label("Department").select_option(label="ENGG · Engineering")
    assert sent(admin, "Add person") == 422
    add = admin.get_by_role("region", name="Add a person")
    email = add.get_by_label("Work e-mail")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_value("robin@elsewhere.example")
    expect(admin.locator("#add-email-error")).to_contain_text(
        "elsewhere.example is not one of this organization's e-mail domains"
    )
    expect(add.get_by_test_id("error-summary").locator('a[href="#add-email"]')).to_be_visible()
    expect(add.get_by_label("Name (optional)")).to_have_value("Robin Example")
    expect(add.get_by_label("Role")).to_have_value("power_user")
    expect(add.get_by_label("Department").locator("option:checked")).to_have_text("ENGG · Engineering")
    looks_right(admin, "people-add-refused")

    email.fill("standard_user@acme.com.au")  # somebody already has it
    assert sent(admin, "Add person") == 422
    expect(admin.locator("#add-email-error")).to_contain_text("already uses this e-mail address")

    admin.get_by_role("region", name="Add a person").get_by_label("Work e-mail").fill("robin@acme.com.au")
    assert sent(admin, "Add person") == 303  # and on to the list, found
    expect(admin.get_by_role("status")).to_contain_text("Added robin@acme.com.au")
    robin = admin.locator("li[data-email='robin@acme.com.au']")
    expect(robin.get_by_test_id("last-sign-in")).to_have_text("Never signed in")
    expect(robin.get_by_label("Role of robin@acme.com.au")).to_have_value("power_user")

    # Robin's first sign-in through Entra claims the account made for them, with its role.
    newcomer = EntraUser(tid=ACME_TID, preferred_username="robin@acme.com.au", name="Robin Example")
    sign_in(newcomer, "/")

    admin.goto(live_server.url + "/people")
    admin.get_by_label("Name or e-mail contains").fill("robin EX")
    admin.get_by_role("button", name="Find").click()
    found = admin.locator("li.person-row")
    expect(found).to_have_count(1)
    expect(found.first).to_have_attribute("data-email", "robin@acme.com.au")
    expect(found.first.get_by_test_id("last-sign-in")).to_contain_text("Last signed in")
    looks_right(admin, "people-found-by-name")
    admin.get_by_label("Name or e-mail contains").fill("nobody-called-this")
    admin.get_by_role("button", name="Find").click()
    expect(admin.get_by_text("Nobody matches.")).to_be_visible()

    # A manager reads their department's people, with no way to add one; a forged addition is refused.
    manager = sign_in(World.acme("dept_manager"), "/people")
    expect(manager.get_by_role("region", name="Add a person")).to_have_count(0)
    token = manager.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged = manager.request.post(
        f"{live_server.url}/people",
        form={"csrf_token": token, "email": "mallory@acme.com.au", "role": "org_admin"},
        headers={"Origin": live_server.url},
    )
    assert forged.status == 403
    admin.goto(live_server.url + "/people?search=mallory")
    expect(admin.get_by_text("Nobody matches.")).to_be_visible()
    page_errors.clear()  # the console's notes of the refusals made on purpose


def test_an_org_admin_cannot_add_someone_above_their_own_role(
    world: World, live_server: LiveServer, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    admin = sign_in(World.acme("org_admin"), "/people")
    roles = admin.get_by_role("region", name="Add a person").get_by_label("Role").locator("option")
    expect(roles).to_have_text(
        ["org admin", "dept manager", "power user", "standard user", "finance"], ignore_case=True
    )
    token = admin.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    forged = admin.request.post(
        f"{live_server.url}/people",
        form={"csrf_token": token, "email": "boss@acme.com.au", "role": "super_admin"},
        headers={"Origin": live_server.url},
    )
    assert forged.status == 422
    assert "above your own" in forged.text()
    admin.goto(live_server.url + "/people?search=boss")
    expect(admin.get_by_text("Nobody matches.")).to_be_visible()
    page_errors.clear()
