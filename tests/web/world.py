"""The committed data the live server's browser tests start from: the demo tenant (Acme, signing in
through the loopback IdP's tenant), and a second tenant (Globex) whose pages Acme must never see."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

import httpx
from psycopg.errors import DeadlockDetected, LockNotAvailable
from sqlalchemy import text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello import demo
from donatello.auth.tokens import token_signer
from donatello.budgets.periods import period_at
from donatello.core.clock import utcnow
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.models import Department, DepartmentBudget, Organization, User
from tests.support.idp import EntraUser
from tests.support.live_server import LiveServer

T = TypeVar("T")


def _run(work: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run database work on its own event loop in a thread: Playwright's sync API owns this thread's."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(work())).result()


ACME_TID = "11111111-1111-4111-8111-111111111111"
GLOBEX_TID = "22222222-2222-4222-8222-222222222222"
PLATFORM_TID = "33333333-3333-4333-8333-333333333333"


@dataclass(frozen=True)
class World:
    acme_id: uuid.UUID
    globex_id: uuid.UUID

    @staticmethod
    def acme(role: str = "power_user") -> EntraUser:
        """The demo user of ``role`` as Entra would sign them in (oid = the demo row's azure_ad_id)."""
        return EntraUser(
            tid=ACME_TID,
            oid=f"demo-{role}",
            preferred_username=f"{role}@acme.com.au",
            name=role.replace("_", " ").title(),
        )

    @staticmethod
    def platform() -> EntraUser:
        """The demo's platform administrator, signing in through the platform's own Entra tenant."""
        return EntraUser(
            tid=PLATFORM_TID,
            oid="demo-super_admin",
            preferred_username="super_admin@donatello.example",
            name="Super Admin",
        )

    @staticmethod
    def globex() -> EntraUser:
        return EntraUser(tid=GLOBEX_TID, oid="globex-designer", preferred_username="designer@globex.com.au")


def clean(owner_url: str) -> None:
    """Empty every table but the migration marker (the append-only triggers are switched off for it).

    The live server's worker keeps polling meanwhile; TRUNCATE locks the tables one after another, so it
    can meet a worker transaction holding one table and waiting for another. That deadlock (or a lock
    wait past the timeout) costs the worker nothing but a retry, and costs this clean one too."""

    async def run() -> None:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            for attempt in range(1, 21):
                try:
                    await _truncate_everything(engine)
                    return
                except DBAPIError as error:
                    if not isinstance(error.orig, (DeadlockDetected, LockNotAvailable)) or attempt == 20:
                        raise
                    await asyncio.sleep(0.05 * attempt)
        finally:
            await engine.dispose()

    _run(run)


async def _truncate_everything(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        tables = (
            await connection.execute(
                text(
                    "SELECT string_agg(quote_ident(tablename), ', ') FROM pg_tables "
                    "WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
                )
            )
        ).scalar_one()
        # Give up waiting quickly and be the deadlock's victim rather than the worker's transaction.
        await connection.execute(text("SET LOCAL lock_timeout = '2s'"))
        await connection.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
        await connection.execute(text("SET LOCAL session_replication_role = replica"))
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


def build(owner_url: str, app_role: str, timezone: str) -> World:
    async def run() -> World:
        engine = create_engine(owner_url, app_role=app_role, pool_size=1)
        try:
            async with transaction(create_sessionmaker(engine), platform=True) as session:
                seeded = await demo.seed_in(session, timezone)
                await session.execute(
                    update(Organization)
                    .where(Organization.id == seeded.organization_id)
                    .values(azure_tenant_id=ACME_TID)
                )
                await session.execute(
                    update(Organization).where(Organization.is_platform).values(azure_tenant_id=PLATFORM_TID)
                )
                globex = Organization(
                    name="Globex",
                    domain="globex.com.au",
                    azure_tenant_id=GLOBEX_TID,
                    settings={"timezone": timezone},
                )
                session.add(globex)
                await session.flush()
                design = Department(organization_id=globex.id, code="DSGN", name="Design")
                session.add(design)
                await session.flush()
                period = period_at(utcnow(), timezone)
                session.add_all(
                    [
                        DepartmentBudget(
                            organization_id=globex.id,
                            department_id=design.id,
                            monthly_budget_aud=Decimal("100.00"),
                            budget_period_start=period.start,
                            budget_period_end=period.end,
                            enforcement_mode="hard",
                        ),
                        User(
                            organization_id=globex.id,
                            department_id=design.id,
                            azure_ad_id="globex-designer",
                            email="designer@globex.com.au",
                            display_name="Globex Designer",
                            role="power_user",
                            mfa_enabled=True,
                        ),
                    ]
                )
                return World(acme_id=seeded.organization_id, globex_id=globex.id)
        finally:
            await engine.dispose()

    return _run(run)


def user_ids(owner_url: str, email: str) -> tuple[uuid.UUID, uuid.UUID]:
    """(user id, organization id) of a seeded user, read as the owner (no tenant narrowing needed)."""

    async def run() -> tuple[uuid.UUID, uuid.UUID]:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.connect() as connection:
                row = (
                    await connection.execute(
                        text("SELECT id, organization_id FROM users WHERE email = :email"), {"email": email}
                    )
                ).one()
                return row[0], row[1]
        finally:
            await engine.dispose()

    return _run(run)


def department_id(owner_url: str, code: str, organization_id: uuid.UUID) -> uuid.UUID:
    """A seeded department's id, read as the owner."""

    async def run() -> uuid.UUID:
        engine = create_engine(owner_url, app_role=None, pool_size=1)
        try:
            async with engine.connect() as connection:
                found = await connection.execute(
                    text("SELECT id FROM departments WHERE code = :code AND organization_id = :org"),
                    {"code": code, "org": organization_id},
                )
                return uuid.UUID(str(found.scalar_one()))
        finally:
            await engine.dispose()

    return _run(run)


@contextmanager
def api_as(
    live_server: LiveServer, owner_url: str, role: str, domain: str = "acme.com.au"
) -> Iterator[httpx.Client]:
    """An API client of the live server with a bearer token of ``role@domain``."""
    user_id, org_id = user_ids(owner_url, f"{role}@{domain}")
    bearer = {"Authorization": f"Bearer {token_signer(live_server.settings).issue(user_id, org_id)}"}
    with httpx.Client(base_url=live_server.url, headers=bearer, trust_env=False, timeout=30) as client:
        yield client
