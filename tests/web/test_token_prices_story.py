"""A model billed by tokens in the browser: the models page shows its prices per million tokens, and the
generate page quotes the most a request can cost ("up to"), which grows with the prompt being typed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from playwright.sync_api import Page, expect

from donatello.auth.tokens import token_signer
from tests.support.browser import looks_right
from tests.support.live_server import LiveServer
from tests.web.world import World, user_ids

#: AUD per million tokens
TOKEN_PRICES = {"input_text": "7.60", "input_image": "12.16", "output_image": "48.64"}  # 7.6 shown


def _register_token_model(live_server: LiveServer, web_database: str) -> None:
    user_id, org_id = user_ids(web_database, "super_admin@donatello.example")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as api:
        created = api.post(
            "/v1/providers",
            json={
                "provider_name": "local",
                "model_name": "pillow-tokens",
                "api_endpoint": "local://pillow",
                "pricing_unit": "token",
                "token_prices": TOKEN_PRICES,
                "config": {"configuration": {"family": "gpt-image"}},
            },
        )
        assert created.status_code == 201, created.text


def test_a_token_priced_model_shows_its_token_prices_and_quotes_up_to_its_most(
    world: World,
    live_server: LiveServer,
    web_database: str,
    sign_in: Callable[..., Page],
    page_errors: list[str],
) -> None:
    _register_token_model(live_server, web_database)

    operator = sign_in(World.platform(), "/models")
    row = operator.locator("tr[data-model='local/pillow-tokens']")
    expect(row.get_by_test_id("token-prices")).to_have_text(
        "by tokens (per million tokens: output image A$48.64, input text A$7.60, input image A$12.16)"
    )
    editor = operator.locator("[data-edit-model='local/pillow-tokens']")
    expect(editor.get_by_label("Per image (AUD)")).to_have_count(0)  # token prices are set through the API
    looks_right(operator, "models-token-priced")

    power = sign_in(World.acme("power_user"), "/")
    power.get_by_label("Model").select_option("local/pillow-tokens")
    quote = power.get_by_test_id("quote-total")
    # 1024x1024 standard (medium): AUD (1056 x 48.64 + 32 x 7.60) / 1e6 = 0.05160704 -> up to A$0.0517
    expect(quote).to_have_text("up to A$0.0517")
    # a 1000-byte prompt may be 1000 more tokens: (1056 x 48.64 + 1032 x 7.60) / 1e6 -> up to A$0.0593
    power.get_by_label("Prompt", exact=True).fill("x" * 1000)
    power.get_by_label("Negative prompt (optional)").focus()  # the quote follows when the prompt is left
    expect(quote).to_have_text("up to A$0.0593")
    chosen = power.get_by_label("Model").locator("option:checked")
    expect(chosen).to_have_text("local/pillow-tokens — up to A$0.0593 per image")  # the list follows too
    expect(power.get_by_text("never more than this")).to_be_visible()
    looks_right(power, "generate-token-priced")
    assert page_errors == []
