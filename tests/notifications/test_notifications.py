"""Notifications end to end: a committed change -> its audit outbox row -> the fan-out -> an in-app
notification and, when the person wants it, an e-mail read back from a real SMTP server on loopback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.notifications import service
from donatello.notifications.delivery import Mailer
from tests.support.budget_request_story import REASON, ask_and_decide, department, drain, notifications_of
from tests.support.clock import Clock
from tests.support.ledger import principal_of
from tests.support.smtp_server import PASSWORD, SmtpServer, smtp_settings

# The loopback server takes AUTH without TLS (aiosmtpd warns); production settings use STARTTLS.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")


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
