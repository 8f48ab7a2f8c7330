"""Every state change is audited: each mutating route in the OpenAPI document, called as a user would,
records exactly the audit events its example declares — one per state change, in order — in the right
organization, naming the right acting user. Routes added later are covered automatically: a new mutating
route fails this test until it has an entry in ``EXAMPLES`` (see "Adding an example" below).

Adding an example: subclass ``Example`` (a frozen dataclass), override ``prepare`` to create what the
request needs and return the ``Call`` to make, then add ``(method, path): YourExample(events, actor)`` to
``EXAMPLES``. ``events`` lists the event types the request must record (one, unless one request really
makes several state changes, such as a first sign-in); ``actor`` says who calls (``As(role)``, with
``signed_in=True`` for a session-backed token, or None for nobody). The events must land in the
example's organization and name the caller, unless the ``Call`` says otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseRequestCreate
from donatello.models import (
    ApiKey,
    AuditOutbox,
    Department,
    ExportSchedule,
    Generation,
    Notification,
    Organization,
    User,
    UserPreference,
    Webhook,
    WebhookDelivery,
)
from donatello.sessions import service as sessions
from donatello.sessions.schemas import TokenPair
from donatello.sso.endpoints import FLOW_COOKIE
from tests.support import factories, provider_rows
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.ledger import admit, principal_of, settle
from tests.support.signin import start_and_authorize

MUTATING = {"post", "put", "patch", "delete"}

#: Resolved from the response, for what exists only once the request ran (a new organization, a new user).
Later = Callable[[httpx.Response], Awaitable[uuid.UUID]]


# --- Who calls -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class As:
    """The caller: a new user of the example's organization with ``role``. ``signed_in`` gives them a
    session as sign-in would (an access token bound to it, and a refresh token); otherwise they carry a
    bare access token (as from ``donatello token``)."""

    role: str = "org_admin"
    signed_in: bool = False


@dataclass(frozen=True)
class Actor:
    user: User
    access_token: str
    refresh_token: str | None = None
    session_id: uuid.UUID | None = None


# --- What an example gets and returns ------------------------------------------------------------------


@dataclass
class Given:
    """What ``prepare`` may use: the database, a fresh organization, the caller, and the running stack."""

    db: AsyncSession
    org: Organization
    actor: Actor | None
    client: httpx.AsyncClient
    tokens: TokenSigner
    idp: IdentityProvider

    @property
    def caller(self) -> Actor:
        assert self.actor is not None, "this example needs an actor"
        return self.actor

    async def sign_in(self, user: User) -> TokenPair:
        """A session for ``user`` (another device, when they are already signed in)."""
        return await _session(self.db, self.tokens, user)

    async def department(self, *, budget: str | None = None) -> Department:
        dept = await factories.department(self.db, self.org)
        if budget is not None:
            await factories.budget(self.db, dept, monthly_aud=budget)
        return dept


@dataclass
class Call:
    """The request an example makes, and where its events must land.

    ``path`` fills the route's path parameters. ``bearer`` sends the caller's access token. The events
    must belong to ``organization`` (default: the example's organization) and name ``actor`` as the
    acting user (default: the caller); either may be resolved from the response (``Later``).
    """

    path: dict[str, object] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    cookies: dict[str, str] = field(default_factory=dict)
    bearer: bool = True
    organization: uuid.UUID | Later | None = None
    actor: uuid.UUID | Later | None = None


@dataclass(frozen=True)
class Example:
    """How to call one route as a user would: the caller, what to create first (``prepare``), and the audit
    event types the request must record, in order."""

    events: tuple[str, ...]
    actor: As | None = As()

    async def prepare(self, given: Given) -> Call:
        return Call()


async def created_id(response: httpx.Response) -> uuid.UUID:
    """The id of what the request created (its response body's ``id``)."""
    return uuid.UUID(response.json()["id"])


# --- The examples --------------------------------------------------------------------------------------


class CreateDepartment(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"name": "Legal", "code": f"L{uuid.uuid4().hex[:6].upper()}"})


class RenameDepartment(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department()
        return Call(path={"department_id": dept.id}, json={"name": "Renamed"})


class FirstSignIn(Example):
    """The browser posts the IdP's form back to the callback: the user is provisioned, then signed in."""

    async def prepare(self, given: Given) -> Call:
        tid = str(uuid.uuid4())
        given.org.azure_tenant_id = tid
        await given.db.flush()
        who = EntraUser(tid=tid, preferred_username=f"first.sign.in@{given.org.domain}")
        cookie, form = await start_and_authorize(given.client, given.idp, who)

        async def provisioned(_: httpx.Response) -> uuid.UUID:
            stmt = select(User.id).where(User.organization_id == given.org.id, User.azure_ad_id == who.oid)
            return (await given.db.execute(stmt)).scalar_one()

        return Call(data=form, cookies={FLOW_COOKIE: cookie}, actor=provisioned)


class Refresh(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"refresh_token": given.caller.refresh_token}, bearer=False)


class RevokeOtherDevice(Example):
    async def prepare(self, given: Given) -> Call:
        phone = await given.sign_in(given.caller.user)
        return Call(path={"session_id": phone.session_id})


class RevokeAllSessions(Example):
    async def prepare(self, given: Given) -> Call:
        await given.sign_in(given.caller.user)  # a second device, signed out too
        return Call()


class SetPreference(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(path={"key": "theme"}, json={"value": "dark"})


class DeletePreference(Example):
    async def prepare(self, given: Given) -> Call:
        user = given.caller.user
        given.db.add(
            UserPreference(
                organization_id=user.organization_id,
                user_id=user.id,
                preference_key="theme",
                preference_value="dark",
            )
        )
        await given.db.flush()
        return Call(path={"key": "theme"})


async def _unread_notification(given: Given) -> Notification:
    user = given.caller.user
    notification = Notification(
        organization_id=user.organization_id,
        user_id=user.id,
        event_id=uuid.uuid4(),
        kind="budget_request_decided",
        title="A$0.30 of A$0.50 approved",
        body="Your request was approved.",
    )
    given.db.add(notification)
    await given.db.flush()
    return notification


class ReadNotification(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(path={"notification_id": (await _unread_notification(given)).id})


class ReadAllNotifications(Example):
    async def prepare(self, given: Given) -> Call:
        await _unread_notification(given)
        return Call()


class PromoteUser(Example):
    async def prepare(self, given: Given) -> Call:
        member = await factories.user(given.db, given.org)
        return Call(path={"user_id": member.id}, json={"role": "power_user"})


class CreateOrganization(Example):
    """A platform administrator adds a tenant: the event belongs to the new organization."""

    async def prepare(self, given: Given) -> Call:
        domain = f"new-{uuid.uuid4().hex[:8]}.com.au"
        return Call(json={"name": "New tenant", "domain": domain}, organization=created_id)


class RenameOrganization(Example):
    """A platform administrator renames another tenant: the event belongs to that tenant."""

    async def prepare(self, given: Given) -> Call:
        customer = await factories.organization(given.db)
        return Call(path={"organization_id": customer.id}, json={"name": "Renamed"}, organization=customer.id)


class SetMfaRule(Example):
    """An org admin declares that their organization trusts Entra's Conditional Access for MFA."""

    async def prepare(self, given: Given) -> Call:
        return Call(path={"organization_id": given.org.id}, json={"rule": "conditional-access"})


class SetBudget(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department()
        return Call(path={"department_id": dept.id}, json={"monthly_budget_aud": "500.00"})


class ChangeBudget(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department(budget="1000.00")
        return Call(path={"department_id": dept.id}, json={"monthly_budget_aud": "2000.00"})


class AskForBudget(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department(budget="100.00")
        return Call(path={"department_id": dept.id}, json={"amount_aud": "50.00", "reason": "launch"})


class DecideBudgetRequest(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department(budget="100.00")
        manager = await factories.user(given.db, given.org, role="dept_manager", department=dept)
        asked = await increase_requests.ask(
            given.db,
            principal_of(manager),
            dept.id,
            IncreaseRequestCreate(amount_aud=Decimal(50), reason="x"),
        )
        return Call(
            path={"request_id": asked.id},
            json={"decision": "approved", "amount_aud": "20.00", "reason": "ok"},
        )


class RefundCharge(Example):
    async def prepare(self, given: Given) -> Call:
        dept = await given.department(budget="1000.00")
        member = await factories.user(given.db, given.org, role="power_user", department=dept)
        charge = await settle(given.db, await admit(given.db, member, "2.00"), "2.00")
        return Call(
            path={"cost_event_id": charge.id},
            json={"kind": "refund", "amount_aud": "0.50", "reason": "The images were blank"},
        )


class CreateApiKey(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"name": "ci", "scopes": ["generations:create"]})


class RevokeApiKey(Example):
    async def prepare(self, given: Given) -> Call:
        user = given.caller.user
        key = ApiKey(
            organization_id=user.organization_id,
            user_id=user.id,
            key_name="ci",
            key_hash=uuid.uuid4().hex,
            key_prefix="dnt_catalog",
            scopes=["generations:create"],
        )
        given.db.add(key)
        await given.db.flush()
        return Call(path={"key_id": key.id})


class CreateProvider(Example):
    async def prepare(self, given: Given) -> Call:
        name = f"catalogue-{uuid.uuid4().hex[:8]}"
        return Call(
            json={
                "provider_name": "local",
                "model_name": name,
                "api_endpoint": "local://pillow",
                "cost_per_image_aud": "0.02",
            }
        )


class RepriceProvider(Example):
    async def prepare(self, given: Given) -> Call:
        model = await provider_rows.model(given.db, "local")
        return Call(path={"provider_id": model.id}, json={"cost_per_image_aud": "0.0300"})


class SchedulePrice(Example):
    async def prepare(self, given: Given) -> Call:
        model = await provider_rows.model(given.db, "local")
        tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
        return Call(
            path={"provider_id": model.id}, json={"cost_per_image_aud": "0.0300", "effective_from": tomorrow}
        )


class ConfigureProvider(Example):
    async def prepare(self, given: Given) -> Call:
        model = await provider_rows.model(given.db, "local")
        return Call(path={"provider_id": model.id}, json={"max_retries": 2, "rate_limit_per_minute": 60})


async def _generating(given: Given) -> None:
    """The caller in a department with a budget, and one local model to ask for."""
    dept = await given.department(budget="100.00")
    given.caller.user.department_id = dept.id
    await given.db.flush()
    if "catalogue_model" not in given.db.info:
        await provider_rows.only_these_models(given.db)
        given.db.info["catalogue_model"] = await provider_rows.model(given.db, "local", price="0.0400")


class RequestGeneration(Example):
    async def prepare(self, given: Given) -> Call:
        await _generating(given)
        return Call(json={"prompt": "a lighthouse in the fog"})


class RequestBatch(Example):
    async def prepare(self, given: Given) -> Call:
        await _generating(given)
        return Call(json={"items": [{"prompt": "first"}, {"prompt": "second"}]})


class CancelGeneration(Example):
    async def prepare(self, given: Given) -> Call:
        await _generating(given)
        accepted = await given.client.post(
            "/v1/generations",
            json={"prompt": "never mind"},
            headers={"Authorization": f"Bearer {given.caller.access_token}"},
        )
        return Call(path={"generation_id": accepted.json()["id"]})


class DeleteGeneration(Example):
    async def prepare(self, given: Given) -> Call:
        user = given.caller.user
        dept = await given.department()
        done = Generation(
            organization_id=given.org.id,
            user_id=user.id,
            department_id=dept.id,
            model_provider="local",
            model_name="pillow-sketch",
            prompt_encrypted="sealed",
            status="completed",
            image_url="images/2026/11/22/x-0.png",
            completed_at=datetime.now(UTC),
        )
        given.db.add(done)
        await given.db.flush()
        return Call(path={"generation_id": done.id})


class CreateWebhook(Example):
    async def prepare(self, given: Given) -> Call:
        # A public address literal: registration checks the target without DNS.
        return Call(
            json={"webhook_url": "https://93.184.215.14/hook", "event_types": ["generation.completed"]}
        )


@dataclass(frozen=True)
class OnWebhook(Example):
    """Any call on an existing webhook of the caller's (PATCH sends ``json``)."""

    json: Any = None

    async def prepare(self, given: Given) -> Call:
        user = given.caller.user
        hook = Webhook(
            organization_id=user.organization_id,
            user_id=user.id,
            webhook_url="https://93.184.215.14/hook",
            secret_hash="sealed.v1.catalogue",
            event_types=["generation.completed"],
        )
        given.db.add(hook)
        await given.db.flush()
        return Call(path={"webhook_id": hook.id}, json=self.json)


class RedeliverFailed(OnWebhook):
    """A failed delivery of the caller's webhook, sent again."""

    async def prepare(self, given: Given) -> Call:
        call = await super().prepare(given)
        delivery = WebhookDelivery(
            organization_id=given.caller.user.organization_id,
            webhook_id=call.path["webhook_id"],
            event_id=uuid.uuid4(),
            event_type="webhook.ping",
            body="{}",
            status="failed",
        )
        given.db.add(delivery)
        await given.db.flush()
        return Call(path={**call.path, "delivery_id": delivery.id})


class CreateExportSchedule(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"name": "FinOps hub", "format": "focus", "daily_at": "02:00"})


@dataclass(frozen=True)
class OnExportSchedule(Example):
    """Any call on an existing export schedule of the caller's organization (PATCH sends ``json``)."""

    json: Any = None

    async def prepare(self, given: Given) -> Call:
        schedule = ExportSchedule(
            organization_id=given.org.id,
            name="Daily drop",
            format="csv",
            daily_at=time(2, 0),
            daily=True,
            month_to_date=False,
        )
        given.db.add(schedule)
        await given.db.flush()
        return Call(path={"schedule_id": schedule.id}, json=self.json)


class ImportProviderBill(Example):
    async def prepare(self, given: Given) -> Call:
        bill = b"date,model,cost,currency\n2026-11-02,local/pillow-sketch,1.25,AUD\n"
        return Call(
            data={"provider": "local", "format": "generic"},
            files={"file": ("bill.csv", bill, "text/csv")},
        )


class SetReconciliationMapping(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"mappings": {}, "tolerance_aud": "0.50", "tolerance_percent": "1"})


STAFF, POWER, ADMIN, PLATFORM = As("standard_user"), As("power_user"), As("org_admin"), As("super_admin")
SIGNED_IN = As("standard_user", signed_in=True)


class AddUserAhead(Example):
    async def prepare(self, given: Given) -> Call:
        return Call(json={"email": f"new.{uuid.uuid4().hex[:8]}@{given.org.domain}", "role": "power_user"})


#: (method, path) -> how to call it and what it records. Every mutating route under /v1 needs one.
EXAMPLES: dict[tuple[str, str], Example] = {
    ("post", "/v1/departments"): CreateDepartment(("department.created",), ADMIN),
    ("patch", "/v1/departments/{department_id}"): RenameDepartment(("department.updated",), ADMIN),
    ("post", "/v1/auth/callback"): FirstSignIn(("user.provisioned", "auth.signed_in"), actor=None),
    ("post", "/v1/auth/refresh"): Refresh(("session.refreshed",), SIGNED_IN),
    ("post", "/v1/auth/logout"): Example(("session.signed_out",), SIGNED_IN),
    ("delete", "/v1/auth/sessions/{session_id}"): RevokeOtherDevice(("session.revoked",), SIGNED_IN),
    ("post", "/v1/auth/sessions/revoke-all"): RevokeAllSessions(("session.revoked_all",), SIGNED_IN),
    ("put", "/v1/me/preferences/{key}"): SetPreference(("user.preference_set",), STAFF),
    ("delete", "/v1/me/preferences/{key}"): DeletePreference(("user.preference_deleted",), STAFF),
    ("post", "/v1/me/notifications/{notification_id}/read"): ReadNotification(("notification.read",), STAFF),
    ("post", "/v1/me/notifications/read-all"): ReadAllNotifications(("notification.read_all",), STAFF),
    ("patch", "/v1/users/{user_id}"): PromoteUser(("user.role_changed",), ADMIN),
    ("post", "/v1/users"): AddUserAhead(("user.created",), ADMIN),
    ("post", "/v1/provisioning/token"): Example(("provisioning_token.issued",), ADMIN),
    ("post", "/v1/organizations"): CreateOrganization(("organization.created",), PLATFORM),
    ("patch", "/v1/organizations/{organization_id}"): RenameOrganization(("organization.updated",), PLATFORM),
    ("put", "/v1/organizations/{organization_id}/mfa"): SetMfaRule(("organization.mfa_rule_changed",), ADMIN),
    ("put", "/v1/departments/{department_id}/budget"): SetBudget(("budget.created",), ADMIN),
    ("post", "/v1/departments/{department_id}/budget/requests"): AskForBudget(
        ("budget.increase_requested",), ADMIN
    ),
    ("post", "/v1/budget-requests/{request_id}/decision"): DecideBudgetRequest(
        ("budget.increase_decided",), ADMIN
    ),
    ("patch", "/v1/departments/{department_id}/budget"): ChangeBudget(("budget.changed",), ADMIN),
    ("post", "/v1/cost-events/{cost_event_id}/adjustments"): RefundCharge(("cost.refund",), ADMIN),
    ("post", "/v1/api-keys"): CreateApiKey(("api_key.created",), POWER),
    ("delete", "/v1/api-keys/{key_id}"): RevokeApiKey(("api_key.revoked",), POWER),
    ("post", "/v1/providers"): CreateProvider(("provider.created",), PLATFORM),
    ("patch", "/v1/providers/{provider_id}"): RepriceProvider(("provider.updated",), PLATFORM),
    ("put", "/v1/providers/{provider_id}/config"): ConfigureProvider(("provider.configured",), PLATFORM),
    ("post", "/v1/providers/{provider_id}/prices"): SchedulePrice(("provider.price_scheduled",), PLATFORM),
    ("post", "/v1/generations"): RequestGeneration(("generation.requested",), POWER),
    ("post", "/v1/generation-batches"): RequestBatch(
        ("generation.requested", "generation.requested", "generation.batch_requested"), POWER
    ),
    ("post", "/v1/generations/{generation_id}/cancel"): CancelGeneration(
        ("budget.reservation_released", "generation.cancelled"), POWER
    ),
    ("delete", "/v1/generations/{generation_id}"): DeleteGeneration(("generation.deleted",), POWER),
    ("post", "/v1/webhooks"): CreateWebhook(("webhook.created",), POWER),
    ("patch", "/v1/webhooks/{webhook_id}"): OnWebhook(("webhook.updated",), POWER, json={"is_active": False}),
    ("post", "/v1/webhooks/{webhook_id}/rotate-secret"): OnWebhook(("webhook.secret_rotated",), POWER),
    ("post", "/v1/webhooks/{webhook_id}/ping"): OnWebhook(("webhook.pinged",), POWER),
    ("delete", "/v1/webhooks/{webhook_id}"): OnWebhook(("webhook.deleted",), POWER),
    ("post", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): RedeliverFailed(
        ("webhook.redelivered",), POWER
    ),
    ("post", "/v1/export-schedules"): CreateExportSchedule(("export_schedule.created",), As("finance")),
    ("patch", "/v1/export-schedules/{schedule_id}"): OnExportSchedule(
        ("export_schedule.updated",), As("finance"), json={"enabled": False}
    ),
    ("delete", "/v1/export-schedules/{schedule_id}"): OnExportSchedule(
        ("export_schedule.deleted",), As("finance")
    ),
    ("put", "/v1/reconciliation-settings"): SetReconciliationMapping(
        ("reconciliation.settings_changed",), As("finance")
    ),
    ("post", "/v1/reconciliations"): ImportProviderBill(
        ("reconciliation.imported", "reconciliation.completed"), As("finance")
    ),
}


# --- The test ------------------------------------------------------------------------------------------


async def test_every_mutating_route_has_an_example(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    routes = [
        (method, path)
        for path, operations in spec["paths"].items()
        for method in operations
        if method in MUTATING and path.startswith("/v1/")
    ]
    assert routes, "the OpenAPI document lists no mutating routes"
    missing = [f"{m.upper()} {p}" for m, p in routes if (m, p) not in EXAMPLES]
    assert missing == [], f"add an example to EXAMPLES for: {missing}"
    stale = [f"{m.upper()} {p}" for m, p in EXAMPLES if (m, p) not in routes]
    assert stale == [], f"EXAMPLES names routes the API no longer has: {stale}"


@pytest.mark.parametrize(
    ("method", "path"), sorted(EXAMPLES), ids=[f"{m.upper()} {p}" for m, p in sorted(EXAMPLES)]
)
async def test_a_mutating_route_records_exactly_its_audit_events(
    method: str,
    path: str,
    client: httpx.AsyncClient,
    db: AsyncSession,
    tokens: TokenSigner,
    idp: IdentityProvider,
) -> None:
    example = EXAMPLES[(method, path)]
    org = await factories.organization(db)
    actor = await _actor(db, tokens, org, example.actor) if example.actor else None
    call = await example.prepare(Given(db, org, actor, client, tokens, idp))
    before = await _last_event_id(db)

    response = await client.request(
        method.upper(),
        path.format(**call.path),
        json=call.json,
        data=call.data,
        files=call.files,
        headers=_headers(call, actor),
    )

    assert response.is_success, f"{response.status_code} {response.text}"
    recorded = await _events_after(db, before)
    expected_org = await _resolve(call.organization, response) or org.id
    expected_actor = await _resolve(call.actor, response) or (actor.user.id if actor else None)
    assert expected_actor is not None, "the example must name the acting user"
    org_id, actor_id = str(expected_org), str(expected_actor)
    want = [(event_type, org_id, actor_id, org_id, actor_id) for event_type in example.events]
    assert [_seen(event) for event in recorded] == want


async def _actor(db: AsyncSession, tokens: TokenSigner, org: Organization, who: As) -> Actor:
    user = await factories.user(db, org, role=who.role)
    if not who.signed_in:
        return Actor(user, tokens.issue(user.id, org.id))
    pair = await _session(db, tokens, user)
    return Actor(user, pair.access_token, pair.refresh_token, pair.session_id)


async def _session(db: AsyncSession, tokens: TokenSigner, user: User) -> TokenPair:
    """What sign-in leaves behind (without the audit event sign-in records): a session and its tokens."""
    _, pair = await sessions.start(
        db,
        tokens,
        user.id,
        user.organization_id,
        device={"user_agent": "catalogue-test"},
        lifetime=timedelta(days=1),
    )
    return pair


def _seen(event: AuditOutbox) -> tuple[str, ...]:
    """Type, organization and acting user as stored; then organization and user in the shipped document."""
    document = event.payload
    return (
        event.event_type,
        str(event.organization_id),
        str(event.user_id),
        document["organization_id"],
        document["user_id"],
    )


def _headers(call: Call, actor: Actor | None) -> dict[str, str]:
    headers = dict(call.headers)
    if call.bearer and actor is not None:
        headers["Authorization"] = f"Bearer {actor.access_token}"
    if call.cookies:
        headers["Cookie"] = "; ".join(f"{name}={value}" for name, value in call.cookies.items())
    return headers


async def _resolve(value: uuid.UUID | Later | None, response: httpx.Response) -> uuid.UUID | None:
    if value is None or isinstance(value, uuid.UUID):
        return value
    return await value(response)


async def _last_event_id(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.coalesce(func.max(AuditOutbox.id), 0))) or 0)


async def _events_after(db: AsyncSession, last_id: int) -> list[AuditOutbox]:
    """Every event recorded since ``last_id``, in any organization (or none), in outbox order."""
    stmt = select(AuditOutbox).where(AuditOutbox.id > last_id).order_by(AuditOutbox.id)
    return list((await db.execute(stmt)).scalars())
