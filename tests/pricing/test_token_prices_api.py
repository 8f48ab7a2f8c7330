"""A platform admin prices a model by tokens through the providers API; bad prices are refused by name and
the database refuses what the API would never write."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.models import ModelProvider
from tests.support import factories, provider_rows
from tests.support.signin import bearer_for

PROBLEM = "application/problem+json"
TOKEN_PRICES = {"input_text": "5.00", "input_image": "8.00", "output_image": "32.00"}


async def _admin_headers(db: AsyncSession, tokens: TokenSigner, role: str = "super_admin") -> dict[str, str]:
    org = await factories.organization(db)
    return bearer_for(
        tokens, await factories.user(db, org, role=role, department=await factories.department(db, org))
    )


def _new_model(**pricing: object) -> dict[str, object]:
    return {
        "provider_name": "azure-openai",
        "model_name": "gpt-image-1.5-test",
        "api_endpoint": "https://acme.openai.azure.com",
        "pricing_currency": "USD",
        **pricing,
    }


async def test_a_model_priced_by_tokens_is_registered_without_a_per_image_price_and_read_back(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    headers = await _admin_headers(db, tokens)

    created = await client.post(
        "/v1/providers", json=_new_model(pricing_unit="token", token_prices=TOKEN_PRICES), headers=headers
    )

    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["pricing_unit"], body["cost_per_image_aud"], body["pricing_currency"]) == (
        "token",
        None,
        "USD",
    )
    assert body["token_prices"] == {
        "input_text": "5.000000",
        "input_image": "8.000000",
        "output_image": "32.000000",
    }
    listed = await client.get(
        f"/v1/providers/{body['id']}", headers=await _admin_headers(db, tokens, "standard_user")
    )
    assert listed.json()["token_prices"]["output_image"] == "32.000000"
    row = await db.scalar(select(ModelProvider).where(ModelProvider.model_name == "gpt-image-1.5-test"))
    assert row is not None and row.token_price_output_image == Decimal("32")


@pytest.mark.parametrize(
    ("pricing", "field"),
    [
        ({"pricing_unit": "token"}, "token_prices"),
        ({"pricing_unit": "image", "cost_per_image": "0.04"}, "cost_per_image_aud"),
    ],
)
async def test_a_pricing_unit_without_its_prices_is_a_422_naming_the_field(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner, pricing: dict[str, object], field: str
) -> None:
    headers = await _admin_headers(db, tokens)

    response = await client.post("/v1/providers", json=_new_model(**pricing), headers=headers)

    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM and response.json()["field"] == field
    assert (
        await db.scalar(select(ModelProvider).where(ModelProvider.model_name == "gpt-image-1.5-test")) is None
    )


async def test_bad_token_prices_are_refused_field_by_field(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    headers = await _admin_headers(db, tokens)
    bad = {"input_text": "-1", "input_image": "cheap", "output_image": "0.1234567", "extra": "1"}

    response = await client.post(
        "/v1/providers", json=_new_model(pricing_unit="tokens", token_prices=bad), headers=headers
    )

    assert response.status_code == 422
    assert {error["field"] for error in response.json()["errors"]} == {
        "body.pricing_unit",
        "body.token_prices.input_text",
        "body.token_prices.input_image",
        "body.token_prices.output_image",
        "body.token_prices.extra",
    }


async def test_patch_moves_a_model_to_token_prices_and_back(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    headers = await _admin_headers(db, tokens)
    row = await provider_rows.model(db, "azure-openai", price="0.0800")
    url = f"/v1/providers/{row.id}"

    half = await client.patch(url, json={"pricing_unit": "token"}, headers=headers)
    to_tokens = await client.patch(
        url, json={"pricing_unit": "token", "token_prices": TOKEN_PRICES}, headers=headers
    )
    new_price = await client.patch(
        url, json={"token_prices": {**TOKEN_PRICES, "output_image": "40"}}, headers=headers
    )
    back = await client.patch(url, json={"pricing_unit": "image"}, headers=headers)

    assert half.status_code == 422 and half.json()["field"] == "token_prices"
    assert to_tokens.status_code == 200 and to_tokens.json()["token_prices"]["input_text"] == "5.000000"
    assert new_price.json()["token_prices"]["output_image"] == "40.000000"
    # back to per image: the per-image price it kept applies again, and its token prices are gone
    assert back.status_code == 200, back.text
    assert (back.json()["pricing_unit"], back.json()["token_prices"], back.json()["cost_per_image_aud"]) == (
        "image",
        None,
        "0.0800",
    )


@pytest.mark.parametrize(
    "columns",
    [
        {"pricing_unit": "token", "token_price_input_text": Decimal(1)},  # not all three prices
        {"pricing_unit": "token", "token_price_input_text": Decimal(-1), "token_price_input_image": Decimal(1),
         "token_price_output_image": Decimal(1)},  # a negative price
        {"pricing_unit": "image"},  # per image without a price
        {"pricing_unit": "image", "cost_per_image_aud": Decimal(1), "token_price_input_text": Decimal(1)},
        {"pricing_unit": "minute", "cost_per_image_aud": Decimal(1)},
    ],
)  # fmt: skip
async def test_the_database_refuses_prices_that_do_not_fit_the_pricing_unit(
    db: AsyncSession, columns: dict[str, object]
) -> None:
    with pytest.raises(IntegrityError):
        async with db.begin_nested():
            db.add(ModelProvider(provider_name="local", model_name="ck", api_endpoint="local://x", **columns))
            await db.flush()
