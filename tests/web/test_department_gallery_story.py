"""A department's gallery for its manager, in a real browser: who made what in their department, newest
first, with no prompt anywhere on the page; another department (or another organization's) is not found,
and people who may not read others' generations are refused."""

from __future__ import annotations

import re
from collections.abc import Callable

from playwright.sync_api import Page, expect

from tests.support.browser import looks_right, status_of
from tests.support.live_server import LiveServer
from tests.web.world import World, department_id

PROMPT = "a quiet harbour at night, ink drawing"


def test_a_manager_sees_who_made_what_in_their_department_without_prompts(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    maker = sign_in(World.acme("power_user"))
    maker.get_by_label("Prompt", exact=True).fill(PROMPT)
    maker.get_by_label("Model").select_option("local/pillow-sketch")
    maker.get_by_role("button", name="Generate").click()
    expect(maker.get_by_role("img", name=re.compile(r"^Generated image 1"))).to_be_visible(timeout=30_000)

    manager = sign_in(World.acme("dept_manager"), "/reports")
    manager.get_by_role("link", name="Who made what in Marketing").click()
    expect(manager.get_by_role("heading", name="Marketing: who made what", level=1)).to_be_visible()
    tiles = manager.locator("li.tile")
    expect(tiles).to_have_count(1)
    expect(tiles.first).to_have_attribute("data-maker", "power_user@acme.com.au")
    expect(tiles.first).to_contain_text("local/pillow-sketch")
    expect(
        manager.get_by_role("img", name=re.compile("^Thumbnail of the generation by power_user"))
    ).to_be_visible()
    assert PROMPT not in manager.content()
    looks_right(manager, "department-gallery")
    marketing = manager.url.split("/reports/")[1].split("/")[0]

    engineering = department_id(web_database, "ENGG", world.acme_id)
    assert status_of(manager.goto(f"{live_server.url}/reports/{engineering}/gallery")) == 404
    globex_design = department_id(web_database, "DSGN", world.globex_id)
    admin = sign_in(World.acme("org_admin"), f"/reports/{engineering}/gallery")
    expect(admin.get_by_text("Nobody in Engineering has generated anything yet.")).to_be_visible()
    assert status_of(admin.goto(f"{live_server.url}/reports/{globex_design}/gallery")) == 404
    admin.goto(f"{live_server.url}/reports/{marketing}/gallery")
    expect(admin.locator("li.tile")).to_have_count(1)
    assert PROMPT not in admin.content()  # an admin's prompt read is one audited read on its own page

    assert status_of(maker.goto(f"{live_server.url}/reports/{marketing}/gallery")) == 403
    page_errors.clear()  # the console's notes of the refusals asked for on purpose
