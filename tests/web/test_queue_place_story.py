"""A person whose generation waits behind a colleague's batch on a busy model sees where they stand:
second in line (people take turns), and roughly when it starts (the model's quota is full)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import text

from donatello.core.database import create_engine
from tests.support.browser import looks_right
from tests.web.world import World, _run, department_id, user_ids

BUSY_MODEL = "local/busy-sketch"


def _busy_model_behind_a_batch(owner_url: str, batch: int) -> None:
    """A local model allowed one call a minute, whose call for this minute was just made, and a
    colleague's batch already waiting for it (as admission leaves them: pending, held)."""
    colleague, org_id = user_ids(owner_url, "standard_user@acme.com.au")
    department = department_id(owner_url, "MKTG", org_id)

    async def run() -> None:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                model_id = (
                    await connection.execute(
                        text(
                            "INSERT INTO model_providers (provider_name, model_name, api_endpoint,"
                            " cost_per_image_aud, priority) VALUES ('local', 'busy-sketch', 'local://pillow',"
                            " 0.0200, 90) RETURNING id"
                        )
                    )
                ).scalar_one()
                await connection.execute(
                    text(
                        "INSERT INTO provider_configs (provider_id, configuration, rate_limit_per_minute)"
                        " VALUES (:id, '{}'::jsonb, 1)"
                    ),
                    {"id": model_id},
                )
                await connection.execute(
                    text("INSERT INTO model_calls (provider_id, generation_id) VALUES (:id, :g)"),
                    {"id": model_id, "g": uuid.uuid4()},
                )
                for position in range(batch):
                    await connection.execute(
                        text(
                            "INSERT INTO generations (organization_id, user_id, department_id,"
                            " model_provider, model_name, prompt_encrypted, status, reservation_aud,"
                            " created_at, next_attempt_at, metadata) VALUES (:org, :user, :dept, 'local',"
                            " 'busy-sketch', 'sealed elsewhere', 'pending', 0.02,"
                            " now() - make_interval(secs => :age), now() - make_interval(secs => :age),"
                            " CAST(:details AS jsonb))"
                        ),
                        {
                            "org": org_id,
                            "user": colleague,
                            "dept": department,
                            "age": 60 - position,
                            "details": json.dumps({"requested_model": BUSY_MODEL}),
                        },
                    )
        finally:
            await engine.dispose()

    _run(run)


def test_a_waiting_generation_shows_its_place_in_line_and_when_it_starts(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _busy_model_behind_a_batch(web_database, batch=5)
    page = sign_in(World.acme("power_user"))
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_label("Model").select_option(BUSY_MODEL)
    page.get_by_role("button", name="Generate").click()

    # the colleague's first goes first, then this one — not after all five; one call a minute, and
    # this minute's call is made: one minute for the colleague's, then its own
    card = page.get_by_role("status").filter(has_text="in line")
    expect(card).to_have_text("2nd in line · starts in about 2 minutes")
    looks_right(page, "generation-in-line")
    assert page_errors == []
