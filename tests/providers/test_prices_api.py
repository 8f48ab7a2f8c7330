"""A platform admin schedules a model's next price; everyone sees its versions; a quote uses the price in
effect at its instant, and a price that has taken effect is never changed."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.core.clock import utcnow
from donatello.models import AuditOutbox, FxRate, ModelPrice, User
from donatello.pricing.service import quote
from tests.support import factories, provider_rows
from tests.support.signin import bearer_for

PROBLEM = "application/problem+json"


async def people(db: AsyncSession) -> dict[str, User]:
    org = await factories.organization(db)
    dept = await factories.department(db, org)
    return {
        role: await factories.user(db, org, role=role, department=dept)
        for role in ("super_admin", "org_admin", "standard_user")
    }


async def versions(
    client: httpx.AsyncClient, headers: dict[str, str], model_id: object
) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/providers/{model_id}/prices", headers=headers)
    assert response.status_code == 200, response.text
    return response.json()["items"]


async def price_now(db: AsyncSession, name: str, at: datetime | None = None) -> tuple[Decimal, str | None]:
    priced = await quote(db, "local", name, "256x256", "standard", 1, on=at)
    return priced.unit_price_aud, priced.price_version_id


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_price_scheduled_for_tomorrow_leaves_todays_quote_as_it_was_and_both_versions_are_listed(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")
    tomorrow = (utcnow() + timedelta(days=1)).replace(microsecond=0)

    scheduled = await client.post(
        f"/v1/providers/{model.id}/prices",
        json={"cost_per_image_aud": "0.0700", "effective_from": tomorrow.isoformat()},
        headers=admin,
    )

    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["current"] is False
    assert scheduled.json()["scheduled_by"] == str(team["super_admin"].id)
    first, second = await versions(client, admin, model.id)
    assert (first["cost_per_image_aud"], first["current"], first["scheduled_by"]) == ("0.0500", True, None)
    assert moment(first["effective_to"]) == tomorrow == moment(second["effective_from"])
    assert (second["cost_per_image_aud"], second["current"], second["effective_to"]) == (
        "0.0700",
        False,
        None,
    )
    assert await price_now(db, model.model_name) == (Decimal("0.0500"), first["id"])
    assert await price_now(db, model.model_name, tomorrow) == (Decimal("0.0700"), second["id"])
    shown = await client.get(f"/v1/providers/{model.id}", headers=admin)
    assert shown.json()["cost_per_image_aud"] == "0.0500"
    # staff see the history too, but not who set each price
    staff_view = await versions(client, bearer_for(tokens, team["standard_user"]), model.id)
    assert [v["cost_per_image_aud"] for v in staff_view] == ["0.0500", "0.0700"]
    assert {v["scheduled_by"] for v in staff_view} == {None}
    audited = (
        await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "provider.price_scheduled"))
    ).scalars()
    [event] = [row for row in audited if row.payload["resource_id"] == str(model.id)]
    assert event.payload["metadata"]["price"]["cost_per_image_aud"] == "0.0700"


async def test_a_price_scheduled_seconds_ahead_prices_the_next_quote_once_its_instant_has_come(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")
    soon = utcnow() + timedelta(seconds=1.5)
    scheduled = await client.post(
        f"/v1/providers/{model.id}/prices",
        json={"cost_per_image_aud": "0.0650", "effective_from": soon.isoformat()},
        headers=admin,
    )
    assert scheduled.status_code == 201, scheduled.text
    assert (await price_now(db, model.model_name))[0] == Decimal("0.0500")

    await asyncio.sleep((soon - utcnow()).total_seconds() + 0.05)

    assert await price_now(db, model.model_name) == (Decimal("0.0650"), scheduled.json()["id"])
    assert (await client.get(f"/v1/providers/{model.id}", headers=admin)).json()[
        "cost_per_image_aud"
    ] == "0.0650"
    assert [v["current"] for v in await versions(client, admin, model.id)] == [False, True]
    # a change now starts from the price in effect, and is a version of its own
    patched = await client.patch(
        f"/v1/providers/{model.id}", json={"cost_per_image_aud": "0.0800"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    change = (
        (
            await db.execute(
                select(AuditOutbox)
                .where(AuditOutbox.event_type == "provider.updated")
                .order_by(AuditOutbox.id.desc())
            )
        )
        .scalars()
        .first()
    )
    assert change is not None
    assert change.payload["metadata"]["changes"]["cost_per_image_aud"] == {"from": "0.0650", "to": "0.0800"}
    assert [v["cost_per_image_aud"] for v in await versions(client, admin, model.id)] == [
        "0.0500",
        "0.0650",
        "0.0800",
    ]


async def test_a_price_change_through_patch_is_a_new_version_and_the_past_one_stays_as_it_was(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")
    [original] = await versions(client, admin, model.id)

    patched = await client.patch(
        f"/v1/providers/{model.id}", json={"cost_per_image_aud": "0.0300"}, headers=admin
    )

    assert patched.status_code == 200, patched.text
    assert patched.json()["cost_per_image_aud"] == "0.0300"
    before, now = await versions(client, admin, model.id)
    assert before["id"] == original["id"] and before["cost_per_image_aud"] == "0.0500"
    assert before["effective_from"] == original["effective_from"]
    assert before["effective_to"] == now["effective_from"]
    assert (now["cost_per_image_aud"], now["current"], now["scheduled_by"]) == (
        "0.0300",
        True,
        str(team["super_admin"].id),
    )
    assert await price_now(db, model.model_name) == (Decimal("0.0300"), now["id"])
    # a change that does not touch the price adds no version
    await client.patch(f"/v1/providers/{model.id}", json={"priority": 7}, headers=admin)
    assert len(await versions(client, admin, model.id)) == 2


async def test_a_price_in_the_past_or_without_an_offset_or_in_the_wrong_unit_is_refused_and_nothing_written(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")
    later = utcnow() + timedelta(days=2)
    refused = {
        "in the past": {
            "cost_per_image_aud": "0.01",
            "effective_from": (utcnow() - timedelta(hours=1)).isoformat(),
        },
        "no offset": {"cost_per_image_aud": "0.01", "effective_from": later.replace(tzinfo=None).isoformat()},
        "two prices": {
            "cost_per_image_aud": "0.01",
            "cost_per_image": "0.01",
            "effective_from": later.isoformat(),
        },
        "no price": {"effective_from": later.isoformat()},
        "not the model's currency": {"cost_per_image": "0.01", "effective_from": later.isoformat()},
        "not the model's unit": {
            "token_prices": {"input_text": "5", "input_image": "8", "output_image": "30"},
            "effective_from": later.isoformat(),
        },
        "negative": {"cost_per_image_aud": "-0.01", "effective_from": later.isoformat()},
    }
    for case, body in refused.items():
        response = await client.post(f"/v1/providers/{model.id}/prices", json=body, headers=admin)
        assert response.status_code == 422, (case, response.text)
        assert response.headers["content-type"].startswith(PROBLEM), case
    for role in ("org_admin", "standard_user"):
        response = await client.post(
            f"/v1/providers/{model.id}/prices",
            json={"cost_per_image_aud": "0.01", "effective_from": later.isoformat()},
            headers=bearer_for(tokens, team[role]),
        )
        assert response.status_code == 403, role
    missing = await client.post(
        f"/v1/providers/{uuid.uuid4()}/prices",
        json={"cost_per_image_aud": "0.01", "effective_from": later.isoformat()},
        headers=admin,
    )
    assert missing.status_code == 404
    written = await db.scalar(select(func.count()).where(ModelPrice.provider_id == model.id))
    assert written == 1  # only the price it was created with


async def test_scheduling_again_for_the_same_instant_replaces_that_scheduled_price_only(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")
    first_of_month = (utcnow() + timedelta(days=20)).replace(microsecond=0).isoformat()
    for price in ("0.0700", "0.0600"):
        response = await client.post(
            f"/v1/providers/{model.id}/prices",
            json={"cost_per_image_aud": price, "effective_from": first_of_month},
            headers=admin,
        )
        assert response.status_code == 201, response.text
    assert [v["cost_per_image_aud"] for v in await versions(client, admin, model.id)] == ["0.0500", "0.0600"]


async def test_a_token_priced_model_is_scheduled_in_token_prices_and_its_currency_cannot_move_meanwhile(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    created = await client.post(
        "/v1/providers",
        json={
            "provider_name": "local",
            "model_name": f"tok-{uuid.uuid4().hex[:6]}",
            "api_endpoint": "local://pillow",
            "pricing_unit": "token",
            "pricing_currency": "USD",
            "token_prices": {"input_text": "5", "input_image": "8", "output_image": "30"},
        },
        headers=admin,
    )
    assert created.status_code == 201, created.text
    model_id = created.json()["id"]
    later = (utcnow() + timedelta(days=3)).isoformat()
    scheduled = await client.post(
        f"/v1/providers/{model_id}/prices",
        json={
            "token_prices": {"input_text": "4", "input_image": "8", "output_image": "25"},
            "effective_from": later,
        },
        headers=admin,
    )
    assert scheduled.status_code == 201, scheduled.text
    assert scheduled.json()["token_prices"]["output_image"] == "25.000000"
    assert scheduled.json()["pricing_currency"] == "USD"

    moved = await client.patch(f"/v1/providers/{model_id}", json={"pricing_currency": "EUR"}, headers=admin)

    assert moved.status_code == 409, moved.text
    assert moved.json()["type"].endswith("price-scheduled-ahead")
    assert (await client.get(f"/v1/providers/{model_id}", headers=admin)).json()["pricing_currency"] == "USD"


async def test_the_database_refuses_to_change_a_price_that_has_taken_effect(db: AsyncSession) -> None:
    model = await provider_rows.model(db, "local", price="0.0500")
    [version] = (await db.execute(select(ModelPrice).where(ModelPrice.provider_id == model.id))).scalars()

    with pytest.raises(IntegrityError, match="never changed"):
        async with db.begin_nested():
            await db.execute(
                update(ModelPrice)
                .where(ModelPrice.id == version.id)
                .values(cost_per_image_aud=Decimal("0.0100"))
            )
    await db.refresh(version)
    assert version.cost_per_image_aud == Decimal("0.0500")


async def test_setting_back_the_price_a_scheduled_one_replaced_is_a_new_version_too(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0500")  # the model's row keeps 0.0500
    soon = utcnow() + timedelta(seconds=1)
    scheduled = await client.post(
        f"/v1/providers/{model.id}/prices",
        json={"cost_per_image_aud": "0.0650", "effective_from": soon.isoformat()},
        headers=admin,
    )
    assert scheduled.status_code == 201, scheduled.text
    await asyncio.sleep((soon - utcnow()).total_seconds() + 0.05)

    back = await client.patch(
        f"/v1/providers/{model.id}", json={"cost_per_image_aud": "0.0500"}, headers=admin
    )

    assert back.status_code == 200, back.text
    listed = await versions(client, admin, model.id)
    assert [(v["cost_per_image_aud"], v["current"]) for v in listed] == [
        ("0.0500", False),
        ("0.0650", False),
        ("0.0500", True),
    ]
    assert listed[2]["scheduled_by"] == str(team["super_admin"].id)
    assert await price_now(db, model.model_name) == (Decimal("0.0500"), listed[2]["id"])


async def test_a_model_priced_in_another_currency_is_scheduled_in_it_and_quoted_at_the_days_rate(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    team = await people(db)
    admin = bearer_for(tokens, team["super_admin"])
    model = await provider_rows.model(db, "local", price="0.0600")
    # XTS is ISO 4217's code for testing: no other rate of it exists
    model.pricing_currency, model.cost_per_image = "XTS", Decimal("0.0400")
    db.add(
        FxRate(base_currency="XTS", rate=Decimal("1.50000000"), source="RBA", effective_date=utcnow().date())
    )
    await db.flush()
    soon = utcnow() + timedelta(seconds=1)
    refused = await client.post(
        f"/v1/providers/{model.id}/prices",
        json={"cost_per_image_aud": "0.0900", "effective_from": soon.isoformat()},
        headers=admin,
    )
    assert refused.status_code == 422 and refused.json()["field"] == "cost_per_image"
    scheduled = await client.post(
        f"/v1/providers/{model.id}/prices",
        json={"cost_per_image": "0.0500", "effective_from": soon.isoformat()},
        headers=admin,
    )
    assert scheduled.status_code == 201, scheduled.text
    assert (await price_now(db, model.model_name))[0] == Decimal("0.0600")  # 0.04 XTS at 1.5
    await asyncio.sleep((soon - utcnow()).total_seconds() + 0.05)

    assert await price_now(db, model.model_name) == (Decimal("0.0750"), scheduled.json()["id"])
    shown = (await client.get(f"/v1/providers/{model.id}", headers=admin)).json()
    assert (shown["cost_per_image"], shown["pricing_currency"]) == ("0.0500", "XTS")
    patched = await client.patch(
        f"/v1/providers/{model.id}", json={"cost_per_image": "0.0300"}, headers=admin
    )
    assert patched.status_code == 200, patched.text
    assert (await price_now(db, model.model_name))[0] == Decimal("0.0450")
