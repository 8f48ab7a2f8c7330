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

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.core import catalogue
from donatello.providers import circuit as circuit_breaking
from donatello.providers import health_repository
from donatello.providers.circuit import HEALTH_WINDOW, CircuitState
from donatello.providers.health_repository import CircuitRow

SLA_MIN_CALLS = 10

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
        return {row.provider_id: _state(row) for row in await health_repository.circuits_not_closed(session)}

    return await catalogue.cached(session, "circuits", load)


async def standings(session: AsyncSession, now: datetime | None = None) -> dict[uuid.UUID, Standing]:
    """Every model with a circuit or a recent call (models missing here: no calls, circuit closed)."""
    now = now or circuit_breaking.clock()
    circuits = {row.provider_id: _state(row) for row in await health_repository.circuits(session)}
    found: dict[uuid.UUID, Standing] = {}
    for counts in await health_repository.call_counts(session, since=now - HEALTH_WINDOW):
        found[counts.provider_id] = Standing(
            counts.calls,
            counts.successes,
            round(counts.p50_ms) if counts.p50_ms is not None else None,
            round(counts.p95_ms) if counts.p95_ms is not None else None,
            circuits.get(counts.provider_id, CLOSED),
        )
    for provider_id, circuit in circuits.items():
        found.setdefault(provider_id, Standing(0, 0, None, None, circuit))
    return found


def _state(row: CircuitRow) -> CircuitState:
    return CircuitState(
        row.state, row.consecutive_failures, row.opened_at, row.trial_after, row.trial_started_at
    )
