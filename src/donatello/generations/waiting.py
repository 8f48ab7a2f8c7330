"""Where a waiting generation stands: its place in line and when it should start.

The place replays the claim's own rule (``repository.claim_next``) over the jobs waiting now: priority
first; within a priority the department served longest ago, then its person served longest ago, then
first come. Place 1 is claimed next. Nobody joining later is assumed, so a place only ever improves —
except that a more urgent priority, or a department not served for longer, may still come in ahead.

The start is the latest of what holds the job back:

* its model's quotas, requests and tokens (``quota_clock``): each call of the model ahead of it takes a
  place in the rolling window, and its tokens (its bound) there; a place frees one window after the call
  that took it was sent (``pacing``);
* the workers: when every slot is busy, the jobs ahead start as calls in flight finish, at the model's
  recent seconds per call (``model_pacing``; ``ASSUMED_SECONDS_PER_CALL`` before any call finished);
* the model's cool-down after a provider's 429, and the job's own retry back-off.

Admission's bound on the wait (``calls_start``) replays the same quotas over what the model's queue owes.
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

from sqlalchemy.ext.asyncio import AsyncSession

from donatello.config import Settings
from donatello.generations import pacing
from donatello.generations import pacing_repository as repository
from donatello.generations.quota_clock import QuotaClock
from donatello.models import Generation

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
    token_bound: int


@dataclass(frozen=True)
class _Model:
    clock: QuotaClock  # its quotas, replayed from the calls in its window now
    cool_down_until: datetime | None
    seconds_per_call: float


async def places(
    session: AsyncSession, generations: Sequence[Generation], settings: Settings, now: datetime
) -> dict[uuid.UUID, Place]:
    """The place of each pending generation among ``generations`` (others have none)."""
    wanted = {g.id for g in generations if g.status == "pending"}
    if not wanted:
        return {}
    queue = [_queued(row) for row in await repository.queue(session)]
    waiting = [job for job in queue if job.status == "pending"]
    order = fair_order(waiting)
    running = [job for job in queue if job.status == "processing"]
    workers = max(1, len({job.lease_owner for job in running if job.lease_owner}))
    slots = workers * settings.generation_concurrency
    by_id = {job.id: job for job in waiting}
    models = {by_id[i].model for i in wanted if i in by_id}
    known = {model: await _model(session, model, settings, now) for model in models}
    found: dict[uuid.UUID, Place] = {}
    for position, job_id in enumerate(order):
        job = by_id[job_id]
        if (model := known.get(job.model)) is None:
            continue  # no job wanted is on this model: its calls do not hold them back
        quota_start = model.clock.next(job.token_bound)  # the calls ahead of it on its model went first
        if job_id in wanted:
            start = max(
                now,
                job.next_attempt_at,
                model.cool_down_until or now,
                quota_start,
                _worker_start(position, len(running), slots, model.seconds_per_call, now),
            )
            found[job_id] = Place(position + 1, start)
            if len(found) == len(wanted):
                break
    return found


async def calls_start(
    session: AsyncSession, provider: str, model: str, bounds: Sequence[int], settings: Settings, now: datetime
) -> datetime:
    """When the last of new calls to the model (one per bound: their tokens) may go, behind everything its
    queue owes (every organization's waiting jobs) and its cool-down — the estimate a waiting generation
    shows, for admission's bound on the wait."""
    state = await repository.model_state(
        session,
        provider,
        model,
        now,
        settings.generation_quota_window_seconds,
        pacing.ARRIVAL_ALLOWANCE,
        owed=True,
    )
    if state is None:
        return now
    clock = _clock(state, settings.generation_quota_window_seconds, now)
    owed = state.owed_calls
    clock.skip(owed, round(state.owed_tokens / owed) if owed else 0)
    start = now
    for bound in bounds:
        start = clock.next(bound)
    return max(start, state.cool_down_until or now)


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


def _worker_start(ahead: int, in_flight: int, slots: int, seconds_per_call: float, now: datetime) -> datetime:
    """With every worker slot busy, slots free as calls finish: about a call's time per full round."""
    free = slots - in_flight
    if ahead < free:
        return now
    rounds = (ahead - free) // slots + 1
    return now + timedelta(seconds=seconds_per_call * rounds)


async def _model(session: AsyncSession, model: tuple[str, str], settings: Settings, now: datetime) -> _Model:
    window = settings.generation_quota_window_seconds
    state = await repository.model_state(session, *model, now, window, pacing.ARRIVAL_ALLOWANCE, owed=False)
    if state is None:
        return _Model(QuotaClock(window, None, None, [], now), None, ASSUMED_SECONDS_PER_CALL)
    return _Model(
        clock=_clock(state, window, now),
        cool_down_until=state.cool_down_until,
        seconds_per_call=state.seconds_per_call or ASSUMED_SECONDS_PER_CALL,
    )


def _clock(state: repository.ModelState, window_seconds: float, now: datetime) -> QuotaClock:
    window, calls = window_seconds, None
    if state.calls_per_minute:
        window, calls = pacing.window_and_quota(state.calls_per_minute, window_seconds)
    tokens = pacing.token_share(state.tokens_per_minute, window) if state.tokens_per_minute else None
    return QuotaClock(window, calls, tokens, state.calls, now)


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
        token_bound=row.token_bound or 0,
    )
