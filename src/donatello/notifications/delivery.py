"""The e-mail job: claim due notification e-mails, send each, record the outcome.

Like webhook deliveries, the retry state lives in the database. A claim (``FOR UPDATE SKIP LOCKED``, so
workers never take the same row) adds one to ``email_attempts`` and moves the due time past the send's
timeout (a lease) in a short transaction committed before the message is sent; the outcome is recorded
in a second transaction only if the claim is still ours. A failure is retried after
``base * 2^(attempt-1)`` seconds (capped, with equal jitter) and given up after ``1 + retries`` attempts.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.notifications import mail, repository

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30.0


@dataclass
class Mailer:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    now: Callable[[], datetime] = utcnow  # scheduling clock (tests move it instead of waiting)
    jitter: Callable[[], float] = field(default=random.random)

    async def run_once(self) -> int:
        """Attempt one batch of due e-mails; returns how many were attempted."""
        now = self.now()
        lease = timedelta(seconds=self.settings.smtp_timeout_seconds * 3 + LEASE_MARGIN_SECONDS)
        async with transaction(self.sessions, platform=True) as session:
            claims = await repository.claim_mail(
                session, now, now + lease, self.settings.notifications_batch_size
            )
        for claim in claims:  # one at a time: an SMTP server throttles bursts from one sender
            error = await self._attempt(claim)
            async with transaction(self.sessions, platform=True) as session:
                await self._record(session, claim, error)
        return len(claims)

    def backoff(self, attempt: int) -> timedelta:
        ceiling = min(
            self.settings.notifications_backoff_max_seconds,
            self.settings.notifications_backoff_base_seconds * 2 ** min(attempt - 1, 32),
        )
        return timedelta(seconds=ceiling / 2 + ceiling / 2 * self.jitter())

    async def _attempt(self, claim: repository.MailClaim) -> str | None:
        message = mail.compose(self.settings, claim.id, claim.address, claim.title, claim.body, claim.link)
        try:
            await mail.send(self.settings, claim.id, message)
        except mail.MailNotSent as refused:
            return str(refused)
        except Exception as error:  # one bad message must not stop the batch
            log.exception("notification e-mail crashed", extra={"notification_id": str(claim.id)})
            return f"internal error: {type(error).__name__}"
        return None

    async def _record(self, session: AsyncSession, claim: repository.MailClaim, error: str | None) -> None:
        now = self.now()
        if error is None:
            await repository.record_mail(
                session, claim, {"email_status": "sent", "emailed_at": now, "email_last_error": None}
            )
            return
        values: dict[str, object] = {"email_last_error": error[:500]}
        if claim.attempt > self.settings.notifications_email_retries:
            values["email_status"] = "failed"
        else:
            values["email_next_attempt_at"] = now + self.backoff(claim.attempt)
        if await repository.record_mail(session, claim, values):
            log.info(
                "notification e-mail not sent",
                extra={"notification_id": str(claim.id), "attempt": claim.attempt, "error": error},
            )
