"""Notifications end to end: a committed change -> its audit outbox row -> the fan-out -> an in-app
notification and, when the person wants it, an e-mail read back from a real SMTP server on loopback."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.budgets import increase_requests
from donatello.budgets.schemas import IncreaseDecision, IncreaseRequestCreate
from donatello.config import Settings
from donatello.models import Notification, User
from donatello.notifications import fanout, service
from donatello.notifications.delivery import Mailer
from tests.support import factories
from tests.support.clock import Clock
from tests.support.ledger import principal_of
from tests.support.smtp_server import PASSWORD, SmtpServer, smtp_settings

# The loopback server takes AUTH without TLS (aiosmtpd warns); production settings use STARTTLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

REASON = "Half now; ask again mid-month"


async def drain(sessions: async_sessionmaker[AsyncSession]) -> None:
    while (await fanout.pass_once(sessions)).read:
        pass


async def department(db: AsyncSession) -> tuple[User, User]:
    """(manager, org admin) of a department with a budget this month."""
    org = await factories.organization(db)
    dept = await factories.department(db, org, code=f"MKT{uuid.uuid4().hex[:4].upper()}")
    await factories.budget(db, dept, monthly_aud="10.00")
    manager = await factories.user(db, org, role="dept_manager", department=dept)
    admin = await factories.user(db, org, role="org_admin")
    return manager, admin


async def ask_and_decide(db: AsyncSession, asker: User, admin: User, *, approve: str | None) -> uuid.UUID:
    assert asker.department_id is not None, "a manager asks for their own department"
    asked = await increase_requests.ask(
        db,
        principal_of(asker),
        asker.department_id,
        IncreaseRequestCreate.model_validate(
            {"amount_aud": "0.50", "reason": "launch campaign", "scope": "this_period"}
        ),
    )
    decision = {"decision": "approved", "amount_aud": approve} if approve else {"decision": "declined"}
    await increase_requests.decide(
        db, principal_of(admin), asked.id, IncreaseDecision.model_validate({**decision, "reason": REASON})
    )
    return asked.id


async def notifications_of(db: AsyncSession, person: User) -> list[Notification]:
    rows = await db.execute(select(Notification).where(Notification.user_id == person.id))
    return list(rows.scalars())


async def test_a_decision_reaches_the_requester_once_in_the_app_and_once_by_email(
    db: AsyncSession, sessions: async_sessionmaker[AsyncSession], mail_settings: Settings, smtp: SmtpServer
) -> None:
    manager, admin = await department(db)
    await ask_and_decide(db, manager, admin, approve="0.30")

    await drain(sessions)
    await drain(sessions)  # re-reading the outbox tells nobody twice
    mailer = Mailer(sessions, mail_settings)
    await mailer.run_once()
    await mailer.run_once()

    [told] = await notifications_of(db, manager)
    assert told.kind == "budget_request_decided"
    assert told.title == "A$0.30 of A$0.50 approved"
    assert REASON in told.body and told.read_at is None
    [mail] = smtp.received
    assert mail.recipients == [manager.email]
    assert mail.message["Subject"] == "A$0.30 of A$0.50 approved"
    assert "A$0.30 of A$0.50" in mail.text and REASON in mail.text
    # The admin was told a request waits for them (in the app; e-mail for that kind is off by default).
    [waiting] = await notifications_of(db, admin)
    assert waiting.kind == "budget_request_waiting" and "A$0.50" in waiting.title
    assert waiting.email_status == "none"


async def test_a_person_who_turned_email_off_is_told_only_in_the_app(
    db: AsyncSession, sessions: async_sessionmaker[AsyncSession], mail_settings: Settings, smtp: SmtpServer
) -> None:
    manager, admin = await department(db)
    choices = await service.choose_email(db, principal_of(manager), {"generation_failed"})
    assert {c.kind: c.email for c in choices}["budget_request_decided"] is False
    await ask_and_decide(db, manager, admin, approve=None)

    await drain(sessions)
    await Mailer(sessions, mail_settings).run_once()

    [told] = await notifications_of(db, manager)
    assert told.title == "Your request for A$0.50 was declined" and REASON in told.body
    assert told.email_status == "none"
    assert smtp.received == []


async def test_smtp_down_is_retried_later_and_sent_once_without_the_password_in_logs(
    db: AsyncSession,
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    manager, admin = await department(db)
    await ask_and_decide(db, manager, admin, approve="0.50")
    await drain(sessions)
    server = SmtpServer()  # not started yet: nothing listens on its port
    clock = Clock()
    mailer = Mailer(sessions, smtp_settings(settings, server), now=clock, jitter=lambda: 0.0)

    assert await mailer.run_once() == 1
    [told] = await notifications_of(db, manager)
    await db.refresh(told)
    assert (told.email_status, told.email_attempts) == ("pending", 1)
    assert told.email_last_error and "Connection" in told.email_last_error
    assert await mailer.run_once() == 0  # not due before its back-off

    server.start()
    try:
        clock.advance(settings.notifications_backoff_base_seconds)
        assert await mailer.run_once() == 1
        assert await mailer.run_once() == 0
        await db.refresh(told)
        assert (told.email_status, told.email_attempts) == ("sent", 2)
        [mail] = server.received
        assert "A$0.50 approved" in mail.message["Subject"]
    finally:
        server.stop()
    assert "notification e-mail not sent" in caplog.text
    assert PASSWORD not in caplog.text


async def test_without_an_smtp_host_mail_is_written_to_the_mail_folder(
    db: AsyncSession, sessions: async_sessionmaker[AsyncSession], settings: Settings, tmp_path: Path
) -> None:
    embedded = settings.model_copy(update={"smtp_host": None, "data_dir": tmp_path})
    manager, admin = await department(db)
    await ask_and_decide(db, manager, admin, approve="0.30")
    await drain(sessions)

    await Mailer(sessions, embedded).run_once()

    [told] = await notifications_of(db, manager)
    written = embedded.mail_outbox_dir / f"{told.id}.eml"
    text = written.read_text()
    assert f"To: {manager.email}" in text and "A$0.30 of A$0.50" in text
    await db.refresh(told)
    assert told.email_status == "sent"
