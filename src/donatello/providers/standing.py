"""How each model is doing now: its circuit and, over the last ``HEALTH_WINDOW``, its success rate and
p50/p95 latency (of its successful calls) — what ``GET /v1/providers`` and the models page show, and what
selection reads.

A model with an ``sla_percentage`` whose success rate over at least ``SLA_MIN_CALLS`` recent calls is
below it is in breach: ``auto`` tries it after every model that is not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core import catalogue
from donatello.providers import circuit as circuit_breaking
from donatello.providers.circuit import HEALTH_WINDOW, CircuitState

SLA_MIN_CALLS = 10

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

CLOSED = CircuitState("closed", 0, None, None, None)


@dataclass(frozen=True)
class Standing:
    calls: int
    successes: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    circuit: CircuitState

    @property
    def success_rate(self) -> float | None:
        """Percent of recent calls that succeeded; None without any."""
        return round(100 * self.successes / self.calls, 2) if self.calls else None

    def breaches(self, sla_percentage: float | None) -> bool:
        rate = self.success_rate
        return (
            sla_percentage is not None
            and self.calls >= SLA_MIN_CALLS
            and rate is not None
            and (rate < sla_percentage)
        )


UNKNOWN = Standing(0, 0, None, None, CLOSED)


async def circuits(session: AsyncSession) -> dict[uuid.UUID, CircuitState]:
    """The circuits that are not closed (cached with the catalogue: a change of state moves its version)."""

    async def load() -> dict[uuid.UUID, CircuitState]:
        return {
            row.provider_id: CircuitState(
                row.state, row.consecutive_failures, row.opened_at, row.trial_after, row.trial_started_at
            )
            for row in (await session.execute(_NOT_CLOSED)).all()
        }

    return await catalogue.cached(session, "circuits", load)


async def standings(session: AsyncSession, now: datetime | None = None) -> dict[uuid.UUID, Standing]:
    """Every model with a circuit or a recent call (models missing here: no calls, circuit closed)."""
    now = now or circuit_breaking.clock()
    circuits = {
        row.provider_id: CircuitState(
            row.state, row.consecutive_failures, row.opened_at, row.trial_after, row.trial_started_at
        )
        for row in (await session.execute(_CIRCUITS)).all()
    }
    found: dict[uuid.UUID, Standing] = {}
    for row in (await session.execute(_STATS, {"since": now - HEALTH_WINDOW})).all():
        found[row.provider_id] = Standing(
            row.calls,
            row.successes,
            round(row.p50) if row.p50 is not None else None,
            round(row.p95) if row.p95 is not None else None,
            circuits.get(row.provider_id, CLOSED),
        )
    for provider_id, circuit in circuits.items():
        found.setdefault(provider_id, Standing(0, 0, None, None, circuit))
    return found
