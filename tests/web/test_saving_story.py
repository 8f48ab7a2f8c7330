"""A generation whose model answered while the image store was down says so: it is saving, and the
model will not be asked (or paid) again."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from playwright.sync_api import Page, expect
from sqlalchemy import text

from donatello.core.database import create_engine
from tests.support.browser import looks_right
from tests.web.world import World, _run, department_id, user_ids


def _saving_generation(owner_url: str) -> uuid.UUID:
    """A colleague's generation as the worker leaves it when the store refused its images: queued again
    (its next try a while off), the provider's call answered."""
    colleague, org_id = user_ids(owner_url, "standard_user@acme.com.au")
    department = department_id(owner_url, "MKTG", org_id)

    async def run() -> uuid.UUID:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                generation_id = (
                    await connection.execute(
                        text(
                            "INSERT INTO generations (organization_id, user_id, department_id,"
                            " model_provider, model_name, prompt_encrypted, status, reservation_aud,"
                            " next_attempt_at, metadata) VALUES (:org, :user, :dept, 'local', 'pillow',"
                            " 'sealed elsewhere', 'pending', 0.05, now() + interval '1 hour',"
                            " CAST(:details AS jsonb)) RETURNING id"
                        ),
                        {"org": org_id, "user": colleague, "dept": department, "details": json.dumps({})},
                    )
                ).scalar_one()
                await connection.execute(
                    text(
                        "INSERT INTO provider_calls (organization_id, generation_id, attempt, model,"
                        " started_at, outcome, finished_at) VALUES (:org, :g, 1, 'local/pillow',"
                        " now() - interval '1 minute', 'answered', now() - interval '50 seconds')"
                    ),
                    {"org": org_id, "g": generation_id},
                )
                return uuid.UUID(str(generation_id))
        finally:
            await engine.dispose()

    return _run(run)


def test_a_generation_whose_images_are_not_stored_yet_says_it_is_saving(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    generation_id = _saving_generation(web_database)
    page = sign_in(World.acme("org_admin"), f"/gallery/{generation_id}")

    expect(page.get_by_role("status")).to_have_text(
        "Saving the images… The model has answered; it will not be asked again."
    )
    looks_right(page, "generation-saving")
    assert page_errors == []
