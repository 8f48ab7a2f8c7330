"""A person generating in a real browser: the form offers only what the chosen model makes, and a prompt
the provider's safety system blocked is explained in plain words."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

from playwright.sync_api import Locator, Page, expect
from sqlalchemy import text

from donatello.core.clock import utcnow
from donatello.core.database import create_engine
from donatello.generations.admission import prompt_context
from donatello.sealing import sealer_from_settings
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.world import World, _run, department_id, user_ids

SQUARE_SKETCH = "local/square-sketch"


def _offered(select: Locator) -> list[str]:
    return select.evaluate(
        "s => Array.from(s.options).filter(o => !o.disabled && !o.hidden).map(o => o.value)"
    )


def _add_narrow_model(owner_url: str) -> None:
    """A local renderer an administrator limited to two sizes and the classic qualities."""

    async def run() -> None:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                model_id = (
                    await connection.execute(
                        text(
                            "INSERT INTO model_providers (provider_name, model_name, api_endpoint,"
                            " cost_per_image_aud, priority) VALUES ('local', 'square-sketch', 'local://pillow',"
                            " 0.0200, 80) RETURNING id"
                        )
                    )
                ).scalar_one()
                await connection.execute(
                    text(
                        "INSERT INTO provider_configs (provider_id, configuration) VALUES (:id, CAST(:c AS jsonb))"
                    ),
                    {
                        "id": model_id,
                        "c": json.dumps(
                            {"sizes": ["1024x1024", "1536x1024"], "qualities": ["standard", "hd"]}
                        ),
                    },
                )
        finally:
            await engine.dispose()

    _run(run)


def test_choosing_a_model_narrows_the_sizes_and_qualities_offered(
    world: World, web_database: str, sign_in: Callable[..., Page], page_errors: list[str]
) -> None:
    _add_narrow_model(web_database)
    page = sign_in(World.acme("power_user"))
    size, quality, model = page.get_by_label("Size"), page.get_by_label("Quality"), page.get_by_label("Model")
    everything = _offered(size)
    assert {"256x256", "1536x1024", "1024x1536", "auto"} <= set(everything)
    assert {"low", "medium", "high", "auto", "standard", "hd"} == set(_offered(quality))
    expect(quality.locator("option[value=low]")).to_have_text("Low")

    model.select_option(SQUARE_SKETCH)

    assert _offered(size) == ["1024x1024", "1536x1024"]
    assert _offered(quality) == ["standard", "hd"]
    size.select_option("1536x1024")
    expect(page.get_by_test_id("quote-total")).to_have_text("A$0.02")
    expect(model).to_have_value(SQUARE_SKETCH)  # the model stays chosen as the form follows it
    looks_right(page, "generate-narrowed")

    model.select_option("auto")
    assert _offered(size) == everything  # Automatic offers every size some model makes
    assert page_errors == []


def _blocked_generation(live_server: LiveServer, owner_url: str, prompt: str) -> uuid.UUID:
    """A generation the worker failed because the provider's safety system refused its prompt, as the
    worker records it (the worker's own tests cover how it gets there)."""
    user_id, org_id = user_ids(owner_url, "power_user@acme.com.au")
    department = department_id(owner_url, "MKTG", org_id)
    generation_id = uuid.uuid4()

    async def run() -> None:
        sealer = sealer_from_settings(live_server.settings)
        sealed = await sealer.seal(
            json.dumps({"prompt": prompt, "negative_prompt": None}),
            context=prompt_context(org_id, generation_id),
        )
        await sealer.aclose()
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.begin() as connection:
                await connection.execute(
                    text(
                        "INSERT INTO generations (id, organization_id, user_id, department_id, model_provider,"
                        " model_name, prompt_encrypted, prompt_key_id, status, error_message, completed_at,"
                        " metadata) VALUES (:id, :org, :user, :dept, 'azure-openai', 'gpt-image-1-mini',"
                        " :sealed, :key, 'failed', :error, :at, CAST(:details AS jsonb))"
                    ),
                    {
                        "id": generation_id,
                        "org": org_id,
                        "user": user_id,
                        "dept": department,
                        "sealed": sealed.envelope,
                        "key": sealed.key_id,
                        "error": "refused by the provider's content filter: the prompt was blocked (violence)",
                        "at": utcnow(),
                        "details": json.dumps(
                            {
                                "requested_model": "azure-openai/gpt-image-1-mini",
                                "content_filter": {"stage": "prompt", "categories": ["violence"]},
                            }
                        ),
                    },
                )
        finally:
            await engine.dispose()

    _run(run)
    return generation_id


def test_a_blocked_prompt_is_explained_in_plain_words(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    generation_id = _blocked_generation(live_server, web_database, "a street fight in the rain")
    page = sign_in(World.acme("power_user"), f"/gallery/{generation_id}")

    expect(
        page.get_by_text(
            "This prompt was blocked by the provider's safety system (violence). Nothing was charged."
        )
    ).to_be_visible()
    expect(page.get_by_text("Failed: blocked by the provider's safety system")).to_be_visible()
    expect(page.get_by_text("a street fight in the rain", exact=True)).to_be_visible()  # its owner sees it
    looks_right(page, "generation-blocked")
    assert page_errors == []
