"""Webhook deliveries end to end: audit event -> fan-out -> signed POST to a loopback HTTPS receiver.

The worker's own parts run for real (fan-out, delivery job, sealer, httpx over TLS); only the clock is
moved by hand (``now``) so retries never wait, and DNS is a dictionary (``resolver``) so a test can say
what a name resolves to — including changing it between registration and delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.config import Settings
from donatello.core.metrics import REGISTRY
from donatello.models import AuditOutbox, User, Webhook, WebhookDelivery
from donatello.sealing import PromptSealer
from donatello.webhooks import fanout, repository, service
from donatello.webhooks.delivery import Deliverer, http_client
from donatello.webhooks.schemas import WebhookCreate, WebhookWithSecret
from tests.support import factories
from tests.support.clock import Clock
from tests.support.ledger import principal_of
from tests.support.webhook_receiver import HOSTNAME, Receiver

PUBLIC_ADDRESS = "93.184.215.14"


# --- The reference implementation of the verification recipe of docs/webhooks.md ------------------------------------


def verify(secret: str, header: str, body: bytes) -> bool:
    """Written from the documented scheme only: t=<unix>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    message = fields["t"].encode() + b"." + body
    expected = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


# --- Fixtures ----------------------------------------------------------------------------------------------


class Dns:
    """What names resolve to, changeable mid-test."""

    def __init__(self) -> None:
        self.names: dict[str, list[str]] = {HOSTNAME: ["127.0.0.1"]}

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.names:
            raise OSError(f"{host} does not resolve")
        return self.names[host]


@pytest.fixture(scope="session")
def receiver_server(workdir: Path) -> Iterator[Receiver]:
    server = Receiver(workdir).start()
    yield server
    server.stop()


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.reset()
    return receiver_server


@pytest.fixture
def loopback_settings(settings: Settings, receiver_server: Receiver) -> Settings:
    return settings.model_copy(
        update={
            "webhooks_allow_private_targets": True,
            "webhooks_ca_bundle": receiver_server.ca_bundle,
            "webhooks_timeout_seconds": 5.0,
            "webhooks_retries": 8,
            "webhooks_disable_after_failures": 20,
        }
    )


@pytest.fixture
async def sessions(db: AsyncSession) -> async_sessionmaker[AsyncSession]:
    """The job's transactions, as savepoints of the test's transaction (rolled back afterwards)."""
    return async_sessionmaker(
        bind=await db.connection(), join_transaction_mode="create_savepoint", expire_on_commit=False
    )


@pytest.fixture
def sealer(app: FastAPI) -> PromptSealer:
    sealer: PromptSealer = app.state.sealer
    return sealer


@pytest.fixture
async def outbound_http(loopback_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(loopback_settings) as http:
        yield http


async def register(
    db: AsyncSession,
    member: User,
    url: str,
    event_types: list[str],
    settings: Settings,
    sealer: PromptSealer,
    dns: Dns,
) -> WebhookWithSecret:
    outbound = service.Outbound(settings=settings, sealer=sealer, resolver=dns)
    return await service.create(
        db, principal_of(member), WebhookCreate(webhook_url=url, event_types=event_types), outbound
    )


async def generation_completed(db: AsyncSession, member: User) -> uuid.UUID:
    event = audit.AuditEvent(
        event_type="generation.completed",
        action="completed",
        resource_type="generation",
        resource_id=uuid.uuid4(),
        organization_id=member.organization_id,
        user_id=member.id,
        metadata={"cost_aud": "0.0400"},
    )
    await audit.record(db, event)
    await db.flush()
    return event.id


async def fan_out(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Run the fan-out until it has read every outbox row; deliveries added."""
    added = 0
    while True:
        progress = await fanout.pass_once(sessions)
        added += progress.added
        if not progress.read:
            return added


async def deliveries(db: AsyncSession, webhook_id: uuid.UUID) -> list[WebhookDelivery]:
    stmt = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    return list((await db.execute(stmt.execution_options(populate_existing=True))).scalars())


async def run_until_quiet(deliverer: Deliverer, clock: Clock, rounds: int = 12) -> None:
    """Attempt what is due, then jump past the longest back-off, a fixed number of times."""
    for _ in range(rounds):
        await deliverer.run_once()
        clock.advance(deliverer.settings.webhooks_backoff_max_seconds + 60)


# --- Tests -------------------------------------------------------------------------------------------------


def _failures(event_type: str, reason: str) -> float:
    labels = {"event_type": event_type, "reason": reason}
    return REGISTRY.get_sample_value("donatello_webhook_delivery_failures_total", labels) or 0.0


async def test_a_receiver_failing_three_times_gets_exactly_one_successful_signed_delivery(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    loopback_settings: Settings,
    sealer: PromptSealer,
    outbound_http: httpx.AsyncClient,
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    dns = Dns()
    hook = await register(
        db, member, receiver.url(), ["generation.completed"], loopback_settings, sealer, dns
    )
    event_id = await generation_completed(db, member)
    assert await fan_out(sessions) == 1
    assert await fan_out(sessions) == 0  # re-running the fan-out queues nothing twice

    receiver.reset(script=[500, 503, 502])
    clock = Clock()
    deliverer = Deliverer(sessions, loopback_settings, sealer, outbound_http, resolver=dns, now=clock)
    failed_before = _failures("generation.completed", "http_5xx")
    await run_until_quiet(deliverer, clock)
    assert _failures("generation.completed", "http_5xx") - failed_before == 3  # operators see them

    assert [r.status for r in receiver.received] == [500, 503, 502, 200]
    (delivery,) = await deliveries(db, hook.id)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 4, 200)
    for request in receiver.received:
        assert request.headers["donatello-delivery"] == str(delivery.id)
        assert request.headers["donatello-event"] == "generation.completed"
        assert request.headers["host"] == f"{HOSTNAME}:{receiver.port}"
        assert request.server_name == HOSTNAME  # connected to 127.0.0.1, TLS still for the hostname
        assert verify(hook.secret, request.headers["donatello-signature"], request.body)
        assert not verify("whsec_wrong", request.headers["donatello-signature"], request.body)
    body = httpx.Response(200, content=receiver.received[-1].body).json()
    assert (body["id"], body["type"], body["data"]["user_id"]) == (
        str(event_id),
        "generation.completed",
        str(member.id),
    )
    assert "ip_address" not in body["data"]
    webhook = await db.get(Webhook, hook.id, populate_existing=True)
    assert webhook is not None and webhook.consecutive_failures == 0


async def test_a_restart_mid_retry_loses_nothing(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    loopback_settings: Settings,
    sealer: PromptSealer,
) -> None:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    dns = Dns()
    hook = await register(
        db, member, receiver.url(), ["generation.completed"], loopback_settings, sealer, dns
    )
    await generation_completed(db, member)
    await fan_out(sessions)
    receiver.reset(script=[500, 500])
    clock = Clock()

    async with http_client(loopback_settings) as http:  # the first worker fails twice, then goes away
        first = Deliverer(sessions, loopback_settings, sealer, http, resolver=dns, now=clock)
        await run_until_quiet(first, clock, rounds=2)
    # A worker that claims and dies before recording anything (the claim is all it committed).
    async with sessions() as session, session.begin():
        await repository.claim_due(session, clock(), clock() + timedelta(seconds=60), 10)
    assert [r.status for r in receiver.received] == [500, 500]

    async with http_client(loopback_settings) as http:  # a new worker picks up from the table
        second = Deliverer(sessions, loopback_settings, sealer, http, resolver=dns, now=clock)
        assert await second.run_once() == 0  # the dead worker's lease still runs
        clock.advance(61)
        await run_until_quiet(second, clock, rounds=3)

    assert [r.status for r in receiver.received] == [500, 500, 200]
    (delivery,) = await deliveries(db, hook.id)
    assert (delivery.status, delivery.attempts) == ("delivered", 4)
    assert {r.headers["donatello-delivery"] for r in receiver.received} == {str(delivery.id)}


async def test_a_name_that_moves_to_a_private_address_is_refused_at_delivery(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    loopback_settings: Settings,
    sealer: PromptSealer,
    outbound_http: httpx.AsyncClient,
) -> None:
    strict = loopback_settings.model_copy(update={"webhooks_allow_private_targets": False})
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    dns = Dns()
    dns.names = {"hooks.example.com": [PUBLIC_ADDRESS]}
    url = f"https://hooks.example.com:{receiver.port}/hook"
    hook = await register(db, member, url, ["generation.completed"], strict, sealer, dns)
    await generation_completed(db, member)
    await fan_out(sessions)

    dns.names["hooks.example.com"] = ["127.0.0.1"]  # DNS rebinding: now it points at the loopback receiver
    clock = Clock()
    deliverer = Deliverer(sessions, strict, sealer, outbound_http, resolver=dns, now=clock)
    assert await deliverer.run_once() == 1

    assert receiver.received == []
    (delivery,) = await deliveries(db, hook.id)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert delivery.last_error == "refused: hooks.example.com resolves to a loopback address"


async def test_a_webhook_is_disabled_after_a_run_of_failures_with_an_audit_event(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    loopback_settings: Settings,
    sealer: PromptSealer,
    outbound_http: httpx.AsyncClient,
) -> None:
    settings = loopback_settings.model_copy(update={"webhooks_disable_after_failures": 3})
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    dns = Dns()
    hook = await register(db, member, receiver.url(), ["generation.completed"], settings, sealer, dns)
    await generation_completed(db, member)
    await generation_completed(db, member)
    assert await fan_out(sessions) == 2
    receiver.reset(script=[500] * 10)
    clock = Clock()
    deliverer = Deliverer(sessions, settings, sealer, outbound_http, resolver=dns, now=clock)
    await run_until_quiet(deliverer, clock)

    # Two deliveries, attempted together twice: the third failure disables the webhook (the fourth was
    # already in flight), and nothing is attempted after that.
    assert len(receiver.received) == 4
    webhook = await db.get(Webhook, hook.id, populate_existing=True)
    assert webhook is not None
    assert (webhook.is_active, webhook.consecutive_failures) == (False, 3)
    assert {d.status for d in await deliveries(db, hook.id)} == {"failed"}
    disabled = (
        await db.execute(
            select(AuditOutbox).where(
                AuditOutbox.organization_id == org.id, AuditOutbox.event_type == "webhook.disabled"
            )
        )
    ).scalar_one()
    assert disabled.payload["resource_id"] == str(hook.id)
    assert disabled.payload["metadata"]["consecutive_failures"] == 3


async def test_events_reach_only_those_allowed_to_see_them(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    receiver: Receiver,
    loopback_settings: Settings,
    sealer: PromptSealer,
) -> None:
    org = await factories.organization(db)
    admin = await factories.user(db, org, role="org_admin")
    alice = await factories.user(db, org, role="power_user")
    bob = await factories.user(db, org, role="power_user")
    outsider = await factories.user(db, await factories.organization(db), role="org_admin")
    dns = Dns()
    types = ["generation.completed", "budget.threshold_crossed", "budget.exceeded"]
    hooks = {
        who.id: await register(db, who, receiver.url(), types, loopback_settings, sealer, dns)
        for who in (admin, alice, outsider)
    }
    await generation_completed(db, bob)
    await generation_completed(db, alice)
    await audit.record(
        db,
        audit.AuditEvent(
            event_type="budget.threshold_crossed",
            action="threshold_crossed",
            resource_type="department_budget",
            resource_id=uuid.uuid4(),
            organization_id=org.id,
            user_id=None,
            metadata={"threshold_percent": 100, "spent_aud": "100.00", "budget_aud": "100.00"},
        ),
    )
    await db.flush()
    await fan_out(sessions)

    def kinds(rows: list[WebhookDelivery]) -> list[str]:
        return sorted(row.event_type for row in rows)

    assert kinds(await deliveries(db, hooks[admin.id].id)) == [
        "budget.exceeded",
        "budget.threshold_crossed",
        "generation.completed",
        "generation.completed",
    ]
    assert kinds(await deliveries(db, hooks[alice.id].id)) == ["generation.completed"]  # her own only
    assert await deliveries(db, hooks[outsider.id].id) == []
