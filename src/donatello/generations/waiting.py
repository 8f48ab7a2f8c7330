"""Where a waiting generation stands: its place in line and when it should start.

The place replays the claim's own rule (``repository.claim_next``) over the jobs waiting now: priority
first; within a priority the department served longest ago, then its person served longest ago, then
first come. Place 1 is claimed next. Nobody joining later is assumed, so a place only ever improves —
except that a more urgent priority, or a department not served for longer, may still come in ahead.

The start is the latest of what holds the job back:

* its model's quota: each call of the model ahead of it takes a place in the rolling window, and a
  place frees one window after the call that took it (``pacing``);
* the workers: when every slot is busy, the jobs ahead start as calls in flight finish, at the model's
  recent seconds per call (``model_pacing``; ``ASSUMED_SECONDS_PER_CALL`` before any call finished);
* the model's cool-down after a provider's 429, and the job's own retry back-off.

Every organization's jobs share the workers and the quotas, so the queue is read through the
``generation_queue()`` function, which returns only what the order needs.
"""

from __future__ import annotations

import heapq
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.config import Settings
from donatello.generations import pacing
from donatello.models import Generation, ModelCall, ModelPace, ModelProvider, ProviderConfig

#: what a call is assumed to take before any call of the model has finished (images take 10-60 s)
ASSUMED_SECONDS_PER_CALL = 20.0


@dataclass(frozen=True)
class Place:
    """A waiting generation's place in line (1 = claimed next) and its estimated start."""

    position: int
    estimated_start_at: datetime


@dataclass(frozen=True)
class _Queued:
    id: uuid.UUID
    status: str
    priority: int
    department_id: uuid.UUID
    user_id: uuid.UUID
    created_at: datetime
    next_attempt_at: datetime
    model: tuple[str, str]
    lease_owner: str | None
    department_served_at: datetime | None
    user_served_at: datetime | None


@dataclass(frozen=True)
class _Model:
    quota: tuple[float, int] | None  # (window seconds, calls in it)
    calls: list[datetime]  # calls in the current window, oldest first
    cool_down_until: datetime | None
    seconds_per_call: float


async def places(
    session: AsyncSession, generations: Sequence[Generation], settings: Settings, now: datetime
) -> dict[uuid.UUID, Place]:
    """The place of each pending generation among ``generations`` (others have none)."""
    wanted = {g.id for g in generations if g.status == "pending"}
    if not wanted:
        return {}
    queue = [_queued(row) for row in await session.execute(text("SELECT * FROM generation_queue()"))]
    waiting = [job for job in queue if job.status == "pending"]
    order = fair_order(waiting)
    running = [job for job in queue if job.status == "processing"]
    workers = max(1, len({job.lease_owner for job in running if job.lease_owner}))
    slots = workers * settings.generation_concurrency
    ahead_of_model: dict[tuple[str, str], int] = defaultdict(int)
    by_id = {job.id: job for job in waiting}
    models = {by_id[i].model for i in wanted if i in by_id}
    known = await _models(session, models, settings.generation_quota_window_seconds, now)
    found: dict[uuid.UUID, Place] = {}
    for position, job_id in enumerate(order):
        job = by_id[job_id]
        if job_id in wanted:
            model = known[job.model]
            start = max(
                now,
                job.next_attempt_at,
                model.cool_down_until or now,
                _quota_start(model, ahead_of_model[job.model], now),
                _worker_start(position, len(running), slots, model.seconds_per_call, now),
            )
            found[job_id] = Place(position + 1, start)
            if len(found) == len(wanted):
                break
        ahead_of_model[job.model] += 1
    return found


def fair_order(waiting: Iterable[_Queued]) -> list[uuid.UUID]:
    """The ids in the order the claim would hand them out if nobody else joined: by priority; within it
    round robin over departments (served longest ago first), over people within a department, then
    first come. Each pick makes its department and person the most recently served."""
    by_priority: dict[int, list[_Queued]] = defaultdict(list)
    for job in waiting:
        by_priority[job.priority].append(job)
    order: list[uuid.UUID] = []
    for priority in sorted(by_priority):
        order.extend(_round_robin(by_priority[priority]))
    return order


def _round_robin(jobs: list[_Queued]) -> list[uuid.UUID]:
    never = float("-inf")
    served: dict[uuid.UUID, float] = {}
    lines: dict[uuid.UUID, dict[uuid.UUID, deque[_Queued]]] = defaultdict(dict)
    for job in sorted(jobs, key=lambda j: (j.created_at, j.id)):
        served.setdefault(job.department_id, _stamp(job.department_served_at, never))
        served.setdefault(job.user_id, _stamp(job.user_served_at, never))
        lines[job.department_id].setdefault(job.user_id, deque()).append(job)
    clock = max([value for value in served.values() if value != never], default=0.0)

    def person_key(department: uuid.UUID, user: uuid.UUID) -> tuple[float, float, str]:
        head = lines[department][user][0]
        return (served[user], head.created_at.timestamp(), str(head.id))

    people = {
        department: [(*person_key(department, user), user) for user in line]
        for department, line in lines.items()
    }
    for heap in people.values():
        heapq.heapify(heap)
    departments = [(served[d], people[d][0][:3], d) for d in people]
    heapq.heapify(departments)
    order: list[uuid.UUID] = []
    while departments:
        _, _, department = heapq.heappop(departments)
        *_, user = heapq.heappop(people[department])
        job = lines[department][user].popleft()
        order.append(job.id)
        clock += 1.0
        served[department] = served[user] = clock
        if lines[department][user]:
            heapq.heappush(people[department], (*person_key(department, user), user))
        if people[department]:
            departments_key = (served[department], people[department][0][:3], department)
            heapq.heappush(departments, departments_key)
    return order


def _stamp(at: datetime | None, never: float) -> float:
    return at.timestamp() if at is not None else never


def _quota_start(model: _Model, ahead: int, now: datetime) -> datetime:
    """When the model's window has a place for the call after ``ahead`` more of its calls: a call may go
    once fewer than the quota's calls were made in the window before it."""
    if model.quota is None:
        return now
    window, quota = model.quota
    span = timedelta(seconds=window)
    times: list[datetime] = list(model.calls)
    made = len(times)
    for _ in range(ahead + 1):
        earlier = len(times) - quota
        times.append(max(now, times[earlier] + span) if earlier >= 0 else now)
    return times[made + ahead]


def _worker_start(ahead: int, in_flight: int, slots: int, seconds_per_call: float, now: datetime) -> datetime:
    """With every worker slot busy, slots free as calls finish: about a call's time per full round."""
    free = slots - in_flight
    if ahead < free:
        return now
    rounds = (ahead - free) // slots + 1
    return now + timedelta(seconds=seconds_per_call * rounds)


async def _models(
    session: AsyncSession, models: set[tuple[str, str]], window_seconds: float, now: datetime
) -> dict[tuple[str, str], _Model]:
    known: dict[tuple[str, str], _Model] = {}
    for provider, name in models:
        row = (
            await session.execute(
                select(
                    ModelProvider.id,
                    ProviderConfig.rate_limit_per_minute,
                    ModelPace.cool_down_until,
                    ModelPace.seconds_per_call,
                )
                .outerjoin(ProviderConfig, ProviderConfig.provider_id == ModelProvider.id)
                .outerjoin(ModelPace, ModelPace.provider_id == ModelProvider.id)
                .where(ModelProvider.provider_name == provider, ModelProvider.model_name == name)
            )
        ).first()
        quota, calls = None, []
        if row is not None and row.rate_limit_per_minute:
            quota = pacing.window_and_quota(row.rate_limit_per_minute, window_seconds)
            since = now - timedelta(seconds=quota[0])
            calls = list(
                await session.scalars(
                    select(ModelCall.called_at)
                    .where(ModelCall.provider_id == row.id, ModelCall.called_at > since)
                    .order_by(ModelCall.called_at)
                )
            )
        known[(provider, name)] = _Model(
            quota=quota,
            calls=calls,
            cool_down_until=row.cool_down_until if row is not None else None,
            seconds_per_call=(row.seconds_per_call if row is not None else None) or ASSUMED_SECONDS_PER_CALL,
        )
    return known


def _queued(row: Any) -> _Queued:
    return _Queued(
        id=row.id,
        status=row.status,
        priority=row.priority,
        department_id=row.department_id,
        user_id=row.user_id,
        created_at=row.created_at,
        next_attempt_at=row.next_attempt_at,
        model=(row.model_provider, row.model_name),
        lease_owner=row.lease_owner,
        department_served_at=row.department_served_at,
        user_served_at=row.user_served_at,
    )
