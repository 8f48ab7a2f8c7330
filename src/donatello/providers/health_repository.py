"""The statements behind a model's health: its circuit (``model_circuits``) and its recent calls
(``model_call_outcomes``). Each change of a circuit is one atomic statement, so worker processes changing
it at once lose no failure and grant one trial (the rules and their times are ``providers.circuit``'s)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

# A failure in a row: the circuit opens when the run reaches the threshold, or at once when the failure was
# a half-open trial's; an open circuit keeps its trial time.
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
_STATS = text(
    """
SELECT provider_id,
       count(*) AS calls,
       count(*) FILTER (WHERE succeeded) AS successes,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE succeeded) AS p50,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY latency_ms) FILTER (WHERE succeeded) AS p95
FROM model_call_outcomes
WHERE finished_at >= :since
GROUP BY provider_id
"""
)
_CIRCUITS = text(
    "SELECT provider_id, state, consecutive_failures, opened_at, trial_after, trial_started_at"
    " FROM model_circuits"
)
_NOT_CLOSED = text(
    "SELECT provider_id, state, consecutive_failures, opened_at, trial_after, trial_started_at"
    " FROM model_circuits WHERE state <> 'closed'"
)


class CircuitRow(NamedTuple):
    provider_id: uuid.UUID
    state: str
    consecutive_failures: int
    opened_at: datetime | None
    trial_after: datetime | None
    trial_started_at: datetime | None


class CallCounts(NamedTuple):
    """A model's calls since a moment: how many, how many succeeded, and its successes' latency."""

    provider_id: uuid.UUID
    calls: int
    successes: int
    p50_ms: float | None
    p95_ms: float | None


async def model_id_of(session: AsyncSession, provider: str, model: str) -> uuid.UUID | None:
    found = await session.execute(_MODEL, {"provider": provider, "model": model})
    return found.scalar_one_or_none()


async def grant_trial(
    session: AsyncSession, model_id: uuid.UUID, now: datetime, *, abandoned: datetime
) -> bool:
    """Half-open the circuit if it is open and due a trial (``trial_after`` passed) or its trial began at or
    before ``abandoned``; True for the one caller whose update did."""
    trial = {"id": model_id, "now": now, "abandoned": abandoned}
    return (await session.execute(_TRIAL, trial)).first() is not None


async def circuit_state(session: AsyncSession, model_id: uuid.UUID) -> str | None:
    """closed, open or half_open; None for a model never failed."""
    return (await session.execute(_STATE, {"id": model_id})).scalar_one_or_none()


async def count_failure(
    session: AsyncSession, model_id: uuid.UUID, now: datetime, *, threshold: int, trial_after: datetime
) -> bool:
    """One more failure in a row: the circuit opens (until ``trial_after``) when the run reaches
    ``threshold`` or the failure was a trial's; True when this failure opened it."""
    failure = {"id": model_id, "now": now, "threshold": threshold, "trial_after": trial_after}
    row = (await session.execute(_FAILED, failure)).first()
    return row is not None and bool(row.opened)


async def close(session: AsyncSession, model_id: uuid.UUID, now: datetime) -> bool:
    """Close the circuit and forget the run of failures; True when there was something to close."""
    return (await session.execute(_SUCCEEDED, {"id": model_id, "now": now})).first() is not None


async def add_outcome(
    session: AsyncSession,
    model_id: uuid.UUID,
    now: datetime,
    *,
    succeeded: bool,
    latency_ms: int,
    forget_before: datetime,
) -> None:
    """Keep a finished call; the model's calls finished before ``forget_before`` go."""
    outcome = {
        "id": model_id,
        "now": now,
        "oldest": forget_before,
        "succeeded": succeeded,
        "latency_ms": latency_ms,
    }
    await session.execute(_OUTCOME, outcome)


async def circuits(session: AsyncSession) -> list[CircuitRow]:
    """Every model's circuit (a model never failed has none)."""
    return [CircuitRow(*row) for row in (await session.execute(_CIRCUITS)).all()]


async def circuits_not_closed(session: AsyncSession) -> list[CircuitRow]:
    return [CircuitRow(*row) for row in (await session.execute(_NOT_CLOSED)).all()]


async def call_counts(session: AsyncSession, *, since: datetime) -> list[CallCounts]:
    """Each model with a call finished since ``since``."""
    return [CallCounts(*row) for row in (await session.execute(_STATS, {"since": since})).all()]
