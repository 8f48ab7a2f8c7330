"""Two worker processes fan out and mail at the same time: each person is still told once, in the app
and by e-mail. Committed rows and two connection pools (one per worker), as in production."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.database import create_engine, set_tenant, transaction
from donatello.models import Notification
from donatello.notifications import fanout
from donatello.notifications.delivery import Mailer
from tests.support import factories
from tests.support.budget_request_story import REASON, ask_and_decide
from tests.support.ledger import committed_tenant
from tests.support.smtp_server import SmtpServer

pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


async def worker(sessions: async_sessionmaker[AsyncSession], mailer: Mailer) -> None:
    """One worker's loops, run until neither finds anything to do (several rounds: the other worker may
    hold the fan-out's lock when this one looks)."""
    for _ in range(20):
        read = (await fanout.pass_once(sessions)).read
        sent = await mailer.run_once()
        if not read and not sent:
            await asyncio.sleep(0.05)


async def test_two_workers_tell_each_person_exactly_once(
    engine: AsyncEngine, postgres_url: str, mail_settings: Settings, smtp: SmtpServer
) -> None:
    async with committed_tenant(engine, postgres_url, budget="10.00") as tenant:
        pools = [create_engine(postgres_url, app_role="donatello_app", pool_size=3) for _ in range(2)]
        workers = [async_sessionmaker(pool, expire_on_commit=False) for pool in pools]
        async with transaction(workers[0]) as session:
            await set_tenant(session, tenant.organization_id)
            manager = await factories.colleague(session, tenant.members[0], role="dept_manager")
            admin = await factories.colleague(session, tenant.members[0], role="org_admin")
            await ask_and_decide(session, manager, admin, approve="0.30")

        await asyncio.gather(*(worker(sessions, Mailer(sessions, mail_settings)) for sessions in workers))

        async with transaction(workers[0], platform=True) as session:
            told = (
                await session.execute(select(Notification).where(Notification.user_id == manager.id))
            ).scalars()
            [notification] = list(told)
        assert notification.email_status == "sent" and notification.email_attempts == 1
        mine = [mail for mail in smtp.received if mail.recipients == [manager.email]]
        assert len(mine) == 1
        assert "A$0.30 of A$0.50" in mine[0].text and REASON in mine[0].text
        for pool in pools:
            await pool.dispose()
