"""An org admin's view of every API key in the organization, in a real browser: whose each key is, what
it may do in words, when it was last used and when it expires — and revoking someone else's key, which
stops it at once and is audited. Nobody else reaches the page; another organization's key is not found."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right, status_of
from tests.support.live_server import LiveServer
from tests.web.world import World, user_ids


def _made_key(page: Page, name: str, scope_label: str) -> tuple[str, str]:
    """A key made on one's own API keys page: (its id, its secret)."""
    page.get_by_label("Name").fill(name)
    page.get_by_label(scope_label).check()
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-secret").input_value()
    key_id = re.search(r"created=([0-9a-f-]{36})", page.url)
    assert key_id is not None
    return key_id.group(1), secret


def test_an_org_admin_sees_everyones_keys_and_revokes_one(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    power = sign_in(World.acme("power_user"), "/api-keys")
    _, secret = _made_key(power, "Render farm", "generations:create")
    globex = sign_in(World.globex(), "/api-keys")
    globex_key, globex_secret = _made_key(globex, "Globex job", "generations:create")
    with httpx.Client(base_url=live_server.url, trust_env=False) as api:
        used = api.get("/v1/generations", headers={"Authorization": f"Bearer {secret}"})
        assert used.status_code == 200

        admin = sign_in(World.acme("org_admin"), "/people")
        admin.get_by_role("link", name="API keys of the organization").click()
        expect(admin.get_by_role("heading", name="API keys of the organization", level=1)).to_be_visible()
        keys = admin.locator("li[data-key-name]")
        expect(keys).to_have_count(1)  # Globex's key is not Acme's to see
        farm = admin.locator("li[data-key-name='Render farm']")
        expect(farm).to_have_attribute("data-owner", "power_user@acme.com.au")
        expect(farm).to_contain_text("of power_user@acme.com.au")
        expect(farm).to_contain_text("May: Generate images")
        expect(farm).to_contain_text("last used")
        expect(farm).to_contain_text("never expires")
        looks_right(admin, "organization-api-keys")

        admin.once("dialog", lambda dialog: dialog.accept())
        farm.get_by_role("button", name="Revoke Render farm of power_user@acme.com.au").click()
        expect(admin.get_by_role("status")).to_have_text(
            "Revoked Render farm of power_user@acme.com.au: it no longer works."
        )
        expect(farm).to_contain_text("revoked")
        expect(farm.get_by_role("button")).to_have_count(0)
        assert api.get("/v1/generations", headers={"Authorization": f"Bearer {secret}"}).status_code == 401

        token = admin.locator("input[name=csrf_token]").first.get_attribute("value") or ""
        forged = admin.request.post(
            f"{live_server.url}/organization/api-keys/{globex_key}/revoke",
            form={"csrf_token": token},
            headers={"Origin": live_server.url},
        )
        assert forged.status == 404  # another organization's key: not there at all
        assert (
            api.get("/v1/generations", headers={"Authorization": f"Bearer {globex_secret}"}).status_code
            == 200
        )

        user_id, org_id = user_ids(web_database, "org_admin@acme.com.au")
        bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
        audited = api.get("/v1/audit-events", params={"event_type": "api_key.revoked"}, headers=bearer).json()
        assert [(e["user_email"], e["metadata"]["owner_id"]) for e in audited["items"]] == [
            ("org_admin@acme.com.au", str(user_ids(web_database, "power_user@acme.com.au")[0]))
        ]

    assert status_of(power.goto(live_server.url + "/organization/api-keys")) == 403  # a power user's own only
    page_errors.clear()  # the console's notes of the refusals made on purpose
