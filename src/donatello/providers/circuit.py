"""Circuit breaking, shared by every worker process through PostgreSQL (``model_circuits``).

A model whose calls fail ``failures_to_open`` times in a row (outages: 5xx, timeouts, 429, unreachable)
opens its circuit: no call is made to it — selection skips it, a request naming it is refused with 503 —
until ``open_seconds`` have passed (``trial_after``). Then exactly one call is let through as a trial
(the circuit is half open; of several workers asking at once, one wins the row's update). The trial's
success closes the circuit; its failure opens it again for another ``open_seconds``. A trial whose
worker died is granted again after ``TRIAL_LEASE``.

Each call's outcome (a "call" is one request to a model, its retries included) is also kept for the
model's rolling health (``providers.health``). Times come from the application's clock, never the
database's ``now()`` (that is the transaction's start).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.providers.errors import ModelUnavailable

log = logging.getLogger(__name__)


def clock() -> datetime:
    """Now, for circuits and the models' health (one seam, so a test moves time instead of waiting)."""
    return utcnow()


FAILURES_TO_OPEN = 5
OPEN_SECONDS = 30.0
TRIAL_LEASE = timedelta(minutes=10)
HEALTH_WINDOW = timedelta(hours=1)

_FAILED = text(
    """
INSERT INTO model_circuits AS c (provider_id, state, consecutive_failures, opened_at, trial_after,
                                 trial_started_at, updated_at)
VALUES (:id, CASE WHEN :threshold <= 1 THEN 'open' ELSE 'closed' END, 1,
        CASE WHEN :threshold <= 1 THEN CAST(:now AS timestamptz) END,
        CASE WHEN :threshold <= 1 THEN CAST(:trial_after AS timestamptz) END, NULL, :now)
ON CONFLICT (provider_id) DO UPDATE SET
  consecutive_failures = c.consecutive_failures + 1,
  state = CASE WHEN c.state = 'half_open' OR c.consecutive_failures + 1 >= :threshold THEN 'open'
               ELSE c.state END,
  opened_at = CASE WHEN c.state = 'half_open'
                     OR (c.state = 'closed' AND c.consecutive_failures + 1 >= :threshold) THEN :now
                   ELSE c.opened_at END,
  trial_after = CASE WHEN c.state = 'half_open'
                       OR (c.state = 'closed' AND c.consecutive_failures + 1 >= :threshold) THEN :trial_after
                     ELSE c.trial_after END,
  trial_started_at = NULL,
  updated_at = :now
RETURNING state, opened_at = :now AS opened
"""
)
_SUCCEEDED = text(
    """
UPDATE model_circuits SET state = 'closed', consecutive_failures = 0, opened_at = NULL,
                          trial_after = NULL, trial_started_at = NULL, updated_at = :now
WHERE provider_id = :id AND (state <> 'closed' OR consecutive_failures > 0)
RETURNING provider_id
"""
)
# The trial: granted to the one caller whose update finds the circuit open and due (or a trial abandoned).
_TRIAL = text(
    """
UPDATE model_circuits SET state = 'half_open', trial_started_at = :now, updated_at = :now
WHERE provider_id = :id
  AND ((state = 'open' AND trial_after <= :now) OR (state = 'half_open' AND trial_started_at <= :abandoned))
RETURNING provider_id
"""
)
_STATE = text("SELECT state FROM model_circuits WHERE provider_id = :id")
_MODEL = text("SELECT id FROM model_providers WHERE provider_name = :provider AND model_name = :model")
_OUTCOME = text(
    """
WITH pruned AS (
  DELETE FROM model_call_outcomes
  WHERE provider_id = :id AND finished_at < :oldest
)
INSERT INTO model_call_outcomes (provider_id, finished_at, succeeded, latency_ms)
VALUES (:id, :now, :succeeded, :latency_ms)
"""
)


@dataclass(frozen=True)
class CircuitState:
    """What selection and the catalogue show of a model's circuit."""

    state: str  # closed, open, half_open
    consecutive_failures: int
    opened_at: datetime | None
    trial_after: datetime | None
    trial_started_at: datetime | None

    def trial_in(self, now: datetime) -> float:
        """Seconds until a call may be made: 0 when closed or due a trial call."""
        if self.state == "open" and self.trial_after is not None:
            return max(0.0, (self.trial_after - now).total_seconds())
        if self.state == "half_open" and self.trial_started_at is not None:
            return max(0.0, (self.trial_started_at + TRIAL_LEASE - now).total_seconds())
        return 0.0

    def blocks(self, now: datetime) -> bool:
        """No call may be made now: open and not yet due a trial, or a trial under way."""
        return self.trial_in(now) > 0


class CircuitOpen(ModelUnavailable):
    """A request naming a model whose circuit is open: 503 with ``Retry-After`` (the trial's time)."""

    def __init__(self, model: str, failures: int, retry_after_seconds: float) -> None:
        super().__init__(model, retry_after_seconds)
        self.reason = f"its circuit is open after {failures} failed calls in a row"
        self.detail = f"{model}: {self.reason}; try again later or choose another model"


class Circuits:
    """The worker's side: may a call be made, and what came of it; each in a short transaction of its own
    (never around the provider call)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        failures_to_open: int = FAILURES_TO_OPEN,
        open_seconds: float = OPEN_SECONDS,
    ) -> None:
        self._sessions = sessions
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds

    async def admit(self, provider: str, model: str) -> bool:
        """Whether a call may be made now; True for exactly one caller once an open circuit is due a trial."""
        now = clock()
        async with transaction(self._sessions, platform=True) as session:
            if (model_id := await _model_id(session, provider, model)) is None:
                return True
            trial = {"id": model_id, "now": now, "abandoned": now - TRIAL_LEASE}
            if (await session.execute(_TRIAL, trial)).first() is not None:
                log.info("circuit half open: one trial call", extra={"provider": provider, "model": model})
                return True
            state = (await session.execute(_STATE, {"id": model_id})).scalar_one_or_none()
        return state in (None, "closed")

    async def failed(self, provider: str, model: str, seconds: float) -> bool:
        """Count a failed call; True when it opened the circuit."""
        now = clock()
        async with transaction(self._sessions, platform=True) as session:
            if (model_id := await _model_id(session, provider, model)) is None:
                return False
            await _outcome(session, model_id, now, succeeded=False, seconds=seconds)
            failure = {
                "id": model_id,
                "now": now,
                "threshold": self.failures_to_open,
                "trial_after": now + timedelta(seconds=self.open_seconds),
            }
            row = (await session.execute(_FAILED, failure)).first()
        opened = row is not None and bool(row.opened)
        if opened:
            log.warning("circuit opened after failed calls", extra={"provider": provider, "model": model})
        return opened

    async def succeeded(self, provider: str, model: str, seconds: float) -> None:
        """Count a good call: the circuit closes."""
        now = clock()
        async with transaction(self._sessions, platform=True) as session:
            if (model_id := await _model_id(session, provider, model)) is None:
                return
            await _outcome(session, model_id, now, succeeded=True, seconds=seconds)
            if (await session.execute(_SUCCEEDED, {"id": model_id, "now": now})).first() is not None:
                log.info("circuit closed", extra={"provider": provider, "model": model})


async def _model_id(session: AsyncSession, provider: str, model: str) -> uuid.UUID | None:
    found = await session.execute(_MODEL, {"provider": provider, "model": model})
    return found.scalar_one_or_none()


async def _outcome(
    session: AsyncSession, model_id: uuid.UUID, now: datetime, *, succeeded: bool, seconds: float
) -> None:
    await session.execute(
        _OUTCOME,
        {
            "id": model_id,
            "now": now,
            "oldest": now - HEALTH_WINDOW,
            "succeeded": succeeded,
            "latency_ms": max(0, round(seconds * 1000)),
        },
    )
