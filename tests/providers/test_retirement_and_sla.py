"""Models that are watched: one below its SLA is tried after the others; one past its retirement date is
never chosen and naming it suggests its replacement; platform administrators are warned 30 and 7 days
ahead, once each, in the app and by webhook."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.auth.tokens import TokenSigner
from donatello.models import (
    AuditOutbox,
    ModelProvider,
    Notification,
    Organization,
    ProviderConfig,
    User,
    WebhookDelivery,
)
from donatello.notifications import fanout as notification_fanout
from donatello.providers import candidates, health, retirement
from donatello.providers.circuit import Circuits
from donatello.webhooks import fanout as webhook_fanout
from donatello.webhooks import service as webhooks
from donatello.webhooks.schemas import WebhookCreate
from tests.support import factories, provider_rows
from tests.support import generation_world as gw
from tests.support.ledger import principal_of
from tests.support.savepoints import sessions_in

HOOK_HOST = "hooks.platform.example"
TODAY = datetime.now(UTC).date()


async def model(db: AsyncSession, *, priority: int, price: str = "0.0400", **values: object) -> ModelProvider:
    row = await provider_rows.model(db, "local", price=price, priority=priority)
    for field, value in values.items():
        setattr(row, field, value)
    await db.flush()
    return row


async def calls(db: AsyncSession, row: ModelProvider, *, good: int, bad: int) -> None:
    circuits = Circuits(sessions_in(await db.connection()), failures_to_open=100)
    for succeeded in [True] * good + [False] * bad:
        if succeeded:
            await circuits.succeeded(row.provider_name, row.model_name, 1.2)
        else:
            await circuits.failed(row.provider_name, row.model_name, 3.4)


async def test_a_model_below_its_sla_is_tried_after_the_others(db: AsyncSession) -> None:
    await provider_rows.only_these_models(db)
    first = await model(db, priority=1, sla_percentage=99.0)
    second = await model(db, priority=2)
    dept = await factories.department(db, await factories.organization(db))

    await calls(db, first, good=10, bad=0)
    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)
    assert [c.model for c in chosen] == [first.model_name, second.model_name]

    await calls(db, first, good=0, bad=1)  # 10 of 11: 90.9 % < 99 %
    chosen = await candidates(db, dept.id, "auto", "1024x1024", "standard", 1)
    assert [c.model for c in chosen] == [second.model_name, first.model_name]
    assert chosen[0].reason == "platform-priority"


async def test_a_retired_model_is_never_chosen_and_naming_it_suggests_its_replacement(
    client: httpx.AsyncClient, db: AsyncSession, tokens: TokenSigner
) -> None:
    world = await gw.world(db, tokens)
    retired = await model(db, priority=1, retires_on=TODAY)
    retiring = await model(db, priority=2, retires_on=TODAY + timedelta(days=1))
    db.add(
        ProviderConfig(provider_id=retired.id, configuration={"replaced_by": f"local/{retiring.model_name}"})
    )
    await db.flush()

    auto = await client.post(
        "/v1/generations", json={"prompt": "a quokka", "model": "auto"}, headers=world.headers
    )
    assert auto.status_code == 202 and auto.json()["model"] == f"local/{retiring.model_name}"

    named = await client.post(
        "/v1/generations",
        json={"prompt": "a quokka", "model": f"local/{retired.model_name}"},
        headers=world.headers,
    )
    assert named.status_code == 422 and named.headers["content-type"].startswith("application/problem+json")
    problem = named.json()
    assert problem["type"].endswith("/model-retired")
    assert problem["replaced_by"] == f"local/{retiring.model_name}"
    assert f"use local/{retiring.model_name} instead" in problem["detail"]
    assert TODAY.isoformat() in problem["detail"]


async def platform_organization(db: AsyncSession) -> Organization:
    found = (await db.execute(select(Organization).where(Organization.is_platform))).scalar()
    return found or await factories.organization(db, is_platform=True)


async def platform_webhook(app: FastAPI, db: AsyncSession, admin: User) -> object:
    async def resolve(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    outbound = webhooks.Outbound(
        settings=app.state.settings.model_copy(update={"webhooks_allow_private_targets": True}),
        sealer=app.state.sealer,
        resolver=resolve,
    )
    created = await webhooks.create(
        db,
        principal_of(admin),
        WebhookCreate(webhook_url=f"https://{HOOK_HOST}/models", event_types=["provider.retiring"]),
        outbound,
    )
    return created.id


async def warnings_of(db: AsyncSession, row: ModelProvider) -> list[int]:
    events = (
        await db.execute(
            select(AuditOutbox).where(AuditOutbox.event_type == "provider.retiring").order_by(AuditOutbox.id)
        )
    ).scalars()
    return [e.payload["metadata"]["days_left"] for e in events if e.payload["resource_id"] == str(row.id)]


async def test_platform_admins_are_warned_30_and_7_days_before_once_each_in_the_app_and_by_webhook(
    app: FastAPI, db: AsyncSession
) -> None:
    platform = await platform_organization(db)
    admin = await factories.user(db, platform, role="super_admin")
    hook = await platform_webhook(app, db, admin)
    retires_on = TODAY + timedelta(days=40)
    row = await model(db, priority=5, retires_on=retires_on)
    db.add(ProviderConfig(provider_id=row.id, configuration={"replaced_by": "azure-openai/gpt-image-2"}))
    await db.flush()

    async def on(day: date) -> int:
        return await retirement.warn(db, platform.id, day)

    assert await on(retires_on - timedelta(days=31)) == 0
    assert await on(retires_on - timedelta(days=30)) >= 1
    assert await on(retires_on - timedelta(days=29)) == 0  # once
    assert await on(retires_on - timedelta(days=8)) == 0
    assert await on(retires_on - timedelta(days=7)) >= 1
    assert await on(retires_on - timedelta(days=2)) == 0
    assert await warnings_of(db, row) == [30, 7]

    sessions = async_sessionmaker(
        bind=await db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    while (await notification_fanout.pass_once(sessions)).read:
        pass
    while (await webhook_fanout.pass_once(sessions)).read:
        pass
    told = (
        await db.execute(
            select(Notification).where(
                Notification.user_id == admin.id, Notification.kind == "provider_retiring"
            )
        )
    ).scalars()
    titles = sorted(n.title for n in told if row.model_name in n.title)
    assert titles == [f"local/{row.model_name} retires on {retires_on.isoformat()}"] * 2
    deliveries = (
        await db.execute(select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook))
    ).scalars()
    bodies = [d.body for d in deliveries if d.event_type == "provider.retiring" and row.model_name in d.body]
    assert len(bodies) == 2 and all("azure-openai/gpt-image-2" in body for body in bodies)


async def test_a_model_first_seen_inside_the_last_week_gets_only_the_7_day_warning(db: AsyncSession) -> None:
    platform = await platform_organization(db)
    row = await model(db, priority=5, retires_on=TODAY + timedelta(days=5))

    await retirement.warn(db, platform.id, TODAY)
    await retirement.warn(db, platform.id, TODAY + timedelta(days=1))

    assert await warnings_of(db, row) == [5]
    refreshed = (
        await db.execute(select(ModelProvider.retirement_warned_days).where(ModelProvider.id == row.id))
    ).scalar_one()
    assert refreshed == 7


async def test_the_model_health_job_warns_in_the_platform_organization(db: AsyncSession) -> None:
    platform = await platform_organization(db)
    row = await model(db, priority=5, retires_on=TODAY + timedelta(days=30))

    assert await health.warn_of_retirements(sessions_in(await db.connection())) >= 1

    assert await warnings_of(db, row) == [30]
    [event] = [
        e
        for e in (
            await db.execute(select(AuditOutbox).where(AuditOutbox.event_type == "provider.retiring"))
        ).scalars()
        if e.payload["resource_id"] == str(row.id)
    ]
    assert event.organization_id == platform.id
