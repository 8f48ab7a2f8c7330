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

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from donatello.core.clock import utcnow
from donatello.core.database import transaction
from donatello.providers import health_repository
from donatello.providers.errors import ModelUnavailable

log = logging.getLogger(__name__)


def clock() -> datetime:
    """Now, for circuits and the models' health (one seam, so a test moves time instead of waiting)."""
    return utcnow()


FAILURES_TO_OPEN = 5
OPEN_SECONDS = 30.0
TRIAL_LEASE = timedelta(minutes=10)
HEALTH_WINDOW = timedelta(hours=1)


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
            if (model_id := await health_repository.model_id_of(session, provider, model)) is None:
                return True
            if await health_repository.grant_trial(session, model_id, now, abandoned=now - TRIAL_LEASE):
                log.info("circuit half open: one trial call", extra={"provider": provider, "model": model})
                return True
            state = await health_repository.circuit_state(session, model_id)
        return state in (None, "closed")

    async def failed(self, provider: str, model: str, seconds: float) -> bool:
        """Count a failed call; True when it opened the circuit."""
        now = clock()
        async with transaction(self._sessions, platform=True) as session:
            if (model_id := await health_repository.model_id_of(session, provider, model)) is None:
                return False
            await _keep_outcome(session, model_id, now, succeeded=False, seconds=seconds)
            opened = await health_repository.count_failure(
                session,
                model_id,
                now,
                threshold=self.failures_to_open,
                trial_after=now + timedelta(seconds=self.open_seconds),
            )
        if opened:
            log.warning("circuit opened after failed calls", extra={"provider": provider, "model": model})
        return opened

    async def succeeded(self, provider: str, model: str, seconds: float) -> None:
        """Count a good call: the circuit closes."""
        now = clock()
        async with transaction(self._sessions, platform=True) as session:
            if (model_id := await health_repository.model_id_of(session, provider, model)) is None:
                return
            await _keep_outcome(session, model_id, now, succeeded=True, seconds=seconds)
            if await health_repository.close(session, model_id, now):
                log.info("circuit closed", extra={"provider": provider, "model": model})


async def _keep_outcome(
    session: AsyncSession, model_id: uuid.UUID, now: datetime, *, succeeded: bool, seconds: float
) -> None:
    """The call's outcome, for the model's health over the last ``HEALTH_WINDOW``."""
    await health_repository.add_outcome(
        session,
        model_id,
        now,
        succeeded=succeeded,
        latency_ms=max(0, round(seconds * 1000)),
        forget_before=now - HEALTH_WINDOW,
    )
