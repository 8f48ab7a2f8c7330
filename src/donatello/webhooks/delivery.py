"""Deliveries: claim due rows, POST the signed body to the checked address, record the outcome.

Durability: all retry state lives in ``webhook_deliveries``. A claim (``FOR UPDATE SKIP LOCKED``, so
workers never take the same row) adds one to ``attempts`` and moves ``next_attempt_at`` past the HTTP
timeout (a lease) in a short transaction that commits before the request is sent; no row lock is held
across the call. The outcome is recorded in a second transaction, only if the claim is still ours. A
worker that dies mid-request leaves the row due again when the lease runs out, so nothing is lost;
receivers deduplicate on ``Donatello-Delivery`` (at-least-once delivery).

Failures (network errors, timeouts, non-2xx, redirects, refused targets) are retried after
``base * 2^(attempt-1)`` seconds (capped), with equal jitter (half fixed, half random) so a recovering
receiver is not hit by every retry at once; a delivery gives up after ``1 + retry_count`` attempts. Each
failed attempt extends the webhook's run of ``consecutive_failures`` (a success resets it); at
``webhooks_disable_after_failures`` the webhook is disabled, its pending deliveries are given up, and a
``webhook.disabled`` audit event is recorded. Secrets and signatures are never logged.
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import certifi
import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello import audit
from donatello.config import Settings
from donatello.core import metrics
from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.sealing import PromptSealer
from donatello.webhooks import repository, signing, targets
from donatello.webhooks.errors import TargetNotAllowed
from donatello.webhooks.service import secret_context

log = logging.getLogger(__name__)

LEASE_MARGIN_SECONDS = 30.0
USER_AGENT = "DonatelloAI-Webhooks/1"


def http_client(settings: Settings) -> httpx.AsyncClient:
    """The outbound client: no environment proxies, no redirects, and no connection reuse — a pooled
    connection is keyed by IP address, so reuse could send one host's request over another host's TLS
    session."""
    context = ssl.create_default_context(cafile=certifi.where())
    if settings.webhooks_ca_bundle is not None:
        context.load_verify_locations(cafile=str(settings.webhooks_ca_bundle))
    return httpx.AsyncClient(
        verify=context,
        trust_env=False,
        follow_redirects=False,
        timeout=httpx.Timeout(settings.webhooks_timeout_seconds),
        limits=httpx.Limits(max_keepalive_connections=0),
    )


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def reason(self) -> str:
        """A short fixed vocabulary for metrics (never a URL or a response body)."""
        if self.status_code is not None:
            return f"http_{self.status_code // 100}xx"
        error = self.error or ""
        if error.startswith("refused"):
            return "refused_address"
        if error == "timed out":
            return "timeout"
        return "internal_error" if error.startswith("internal error") else "connection_error"


@dataclass
class Deliverer:
    sessions: async_sessionmaker[AsyncSession]
    settings: Settings
    sealer: PromptSealer
    http: httpx.AsyncClient
    resolver: targets.Resolver = targets.system_resolver
    now: Callable[[], datetime] = utcnow  # scheduling clock (tests move it instead of waiting)
    jitter: Callable[[], float] = field(default=random.random)

    async def run_once(self) -> int:
        """Attempt one batch of due deliveries; returns how many were attempted."""
        now = self.now()
        lease_until = now + timedelta(seconds=self.settings.webhooks_timeout_seconds + LEASE_MARGIN_SECONDS)
        async with transaction(self.sessions, platform=True) as session:
            claims = await repository.claim_due(session, now, lease_until, self.settings.webhooks_batch_size)
        if not claims:
            return 0
        outcomes = await asyncio.gather(*(self._attempt(claim) for claim in claims))
        for claim, outcome in zip(claims, outcomes, strict=True):
            async with transaction(self.sessions, platform=True) as session:
                await self._record(session, claim, outcome)
        return len(claims)

    def backoff(self, attempt: int) -> timedelta:
        """Delay before the next attempt after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(
            self.settings.webhooks_backoff_max_seconds,
            self.settings.webhooks_backoff_base_seconds * 2 ** min(attempt - 1, 32),
        )
        return timedelta(seconds=ceiling / 2 + ceiling / 2 * self.jitter())

    async def _attempt(self, claim: repository.Claim) -> Outcome:
        try:
            return await self._post(claim)
        except Exception as error:  # one bad delivery must not stop the batch
            log.exception("webhook delivery attempt crashed", extra={"delivery_id": str(claim.id)})
            return Outcome(None, f"internal error: {type(error).__name__}")

    async def _post(self, claim: repository.Claim) -> Outcome:
        try:
            target = await targets.resolve(
                claim.webhook_url,
                self.resolver,
                allow_private=self.settings.webhooks_allow_private_targets,
            )
        except TargetNotAllowed as refused:
            return Outcome(None, f"refused: {refused.detail}")
        secret = await self.sealer.open(
            claim.sealed_secret, context=secret_context(claim.organization_id, claim.webhook_id)
        )
        body = claim.body.encode("utf-8")
        url = httpx.URL(claim.webhook_url)
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Donatello-Event": claim.event_type,
            "Donatello-Delivery": str(claim.id),
            "Donatello-Signature": signing.signature(secret, int(time.time()), body),
        }
        try:
            async with self.http.stream(
                "POST",
                url.copy_with(host=target.address),
                content=body,
                headers=headers,
                extensions={"sni_hostname": url.host},
            ) as response:
                status = response.status_code  # the body is never read: a receiver cannot make us buffer it
        except httpx.TimeoutException:
            return Outcome(None, "timed out")
        except httpx.HTTPError as error:
            return Outcome(None, f"{type(error).__name__}: {str(error)[:200]}")
        if 200 <= status < 300:
            return Outcome(status, None)
        return Outcome(status, f"HTTP {status}")

    async def _record(self, session: AsyncSession, claim: repository.Claim, outcome: Outcome) -> None:
        now = self.now()
        if outcome.ok:
            values = {
                "status": "delivered",
                "delivered_at": now,
                "last_status_code": outcome.status_code,
                "last_error": None,
            }
            if await repository.record_attempt(session, claim, values):
                await repository.count_success(session, claim.webhook_id)
            return
        values = {"last_status_code": outcome.status_code, "last_error": (outcome.error or "")[:500]}
        if claim.attempt > claim.retries:
            values["status"] = "failed"
        else:
            values["next_attempt_at"] = now + self.backoff(claim.attempt)
        if not await repository.record_attempt(session, claim, values):
            return
        log.info(
            "webhook delivery attempt failed",
            extra={"delivery_id": str(claim.id), "attempt": claim.attempt, "error": outcome.error},
        )
        metrics.webhook_delivery_failed(claim.event_type, outcome.reason)
        counted = await repository.count_failure(session, claim.webhook_id)
        if counted is None:
            return
        failures, active = counted
        if active and failures >= self.settings.webhooks_disable_after_failures:
            await self._disable(session, claim, failures, outcome)

    async def _disable(
        self, session: AsyncSession, claim: repository.Claim, failures: int, outcome: Outcome
    ) -> None:
        webhook = await repository.disable(
            session, claim.webhook_id, f"webhook disabled after {failures} failures"
        )
        if webhook is None:
            return
        log.warning("webhook disabled", extra={"webhook_id": str(webhook.id), "failures": failures})
        await audit.record_event(
            session,
            "webhook.disabled",
            action="disabled",
            resource=("webhook", webhook.id),
            organization_id=webhook.organization_id,
            status="failure",
            error=outcome.error,
            details={"owner_id": str(webhook.user_id), "consecutive_failures": failures},
        )
