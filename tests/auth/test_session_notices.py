"""A browser session's one-time notice (a new secret carried from a form's POST to the page it redirects
to): sealed at rest, bound to its session, read once, only by the page it is about, and not for long."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core.clock import utcnow
from donatello.models import UserSession
from donatello.sealing import PromptSealer
from donatello.sessions import browser
from tests.support import factories

LIFETIMES = browser.Lifetimes(idle=timedelta(hours=1), absolute=timedelta(hours=8))
SECRET = "dk_live_0123456789abcdefghijklmnopqrstuv"


@pytest.fixture
def sealer(app: FastAPI) -> PromptSealer:
    sealer: PromptSealer = app.state.sealer
    return sealer


async def _browser_session(db: AsyncSession) -> browser.BrowserSession:
    org = await factories.organization(db)
    member = await factories.user(db, org, role="power_user")
    return await browser.open_session(db, member.id, org.id, device=None, lifetimes=LIFETIMES, method="test")


async def test_the_secret_is_sealed_at_rest_and_shown_once(db: AsyncSession, sealer: PromptSealer) -> None:
    signed_in = await _browser_session(db)
    subject = uuid.uuid4()
    await browser.leave_notice(db, sealer, signed_in, "api-key", subject, SECRET)
    stored = (
        await db.execute(select(UserSession.one_time_notice).where(UserSession.id == signed_in.session_id))
    ).scalar_one()
    assert stored is not None and SECRET not in stored and "api-key" not in stored

    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject) == SECRET
    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject) is None  # a reload


async def test_a_notice_is_only_for_its_own_page_and_session(db: AsyncSession, sealer: PromptSealer) -> None:
    signed_in = await _browser_session(db)
    other = await _browser_session(db)
    subject = uuid.uuid4()
    await browser.leave_notice(db, sealer, signed_in, "webhook-secret", subject, SECRET)

    assert await browser.take_notice(db, sealer, signed_in, "webhook-secret", uuid.uuid4()) is None
    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject) is None
    assert await browser.take_notice(db, sealer, other, "webhook-secret", subject) is None
    # The sealed row copied into another session does not open there (bound to its session).
    stored = await db.get(UserSession, signed_in.session_id)
    assert stored is not None and stored.one_time_notice is not None
    copied = await db.get(UserSession, other.session_id)
    assert copied is not None
    copied.one_time_notice = stored.one_time_notice
    await db.flush()
    assert await browser.take_notice(db, sealer, other, "webhook-secret", subject) is None
    # The pages it was not about left it in place for the one it is about.
    assert await browser.take_notice(db, sealer, signed_in, "webhook-secret", subject) == SECRET


async def test_a_notice_not_shown_within_ten_minutes_is_dropped(
    db: AsyncSession, sealer: PromptSealer
) -> None:
    signed_in = await _browser_session(db)
    subject = uuid.uuid4()
    left_at = utcnow()
    await browser.leave_notice(db, sealer, signed_in, "api-key", subject, SECRET, now=left_at)
    later = left_at + browser.NOTICE_LIFETIME + timedelta(seconds=1)
    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject, now=later) is None
    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject, now=left_at) is None


async def test_secrets_made_in_two_tabs_each_reach_their_own_page(
    db: AsyncSession, sealer: PromptSealer
) -> None:
    """Two keys created before either page loads (two tabs): each page shows its own secret once."""
    signed_in = await _browser_session(db)
    first, second = uuid.uuid4(), uuid.uuid4()
    await browser.leave_notice(db, sealer, signed_in, "api-key", first, SECRET)
    await browser.leave_notice(db, sealer, signed_in, "webhook-secret", second, "whsec_second")

    assert await browser.take_notice(db, sealer, signed_in, "webhook-secret", second) == "whsec_second"
    assert await browser.take_notice(db, sealer, signed_in, "api-key", first) == SECRET
    assert await browser.take_notice(db, sealer, signed_in, "api-key", first) is None
    stored = await db.get(UserSession, signed_in.session_id, populate_existing=True)
    assert stored is not None and stored.one_time_notice is None  # nothing left behind


async def test_only_the_newest_notices_are_kept(db: AsyncSession, sealer: PromptSealer) -> None:
    signed_in = await _browser_session(db)
    subjects = [uuid.uuid4() for _ in range(browser.NOTICES_KEPT + 1)]
    for n, subject in enumerate(subjects):
        await browser.leave_notice(db, sealer, signed_in, "api-key", subject, f"{SECRET}-{n}")

    assert await browser.take_notice(db, sealer, signed_in, "api-key", subjects[0]) is None  # the oldest
    shown = [await browser.take_notice(db, sealer, signed_in, "api-key", s) for s in subjects[1:]]
    assert shown == [f"{SECRET}-{n}" for n in range(1, len(subjects))]


async def test_a_notice_left_in_the_single_notice_form_is_still_shown(
    db: AsyncSession, sealer: PromptSealer
) -> None:
    """A session that got its notice from the release before several were kept (migration 0021's form)."""
    signed_in = await _browser_session(db)
    subject = uuid.uuid4()
    until = (utcnow() + browser.NOTICE_LIFETIME).isoformat()
    one = json.dumps({"kind": "api-key", "subject": str(subject), "secret": SECRET, "until": until})
    context = f"org:{signed_in.organization_id}/session:{signed_in.session_id}"
    row = await db.get(UserSession, signed_in.session_id)
    assert row is not None
    row.one_time_notice = (await sealer.seal(one, context=context)).envelope
    await db.flush()

    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject) == SECRET
    assert await browser.take_notice(db, sealer, signed_in, "api-key", subject) is None
