"""Generations under real provider latency: one ``donatello worker --only generations`` process against a
loopback Azure OpenAI stub that answers after a configurable latency, with a model quota.

Two runs, each reported against its own ceiling (the quota, or the latency-bound best time):

* **flood** — ``DONATELLO_BENCH_PEOPLE`` people (20) in ``DONATELLO_BENCH_DEPARTMENTS`` departments (4);
  one person in the first department queues ``DONATELLO_BENCH_FLOOD`` requests (200) first, everyone else
  10 each, then a latecomer asks for one picture. The model's quota is ``DONATELLO_BENCH_QUOTA`` calls a
  minute (600) over 10-second windows, latency ``DONATELLO_BENCH_LATENCY`` s (2). Figures: calls per minute
  against the quota while the queue is full, the latecomer's wait, Jain's fairness index of calls per
  department while every department still has jobs waiting, worker RSS and CPU.
* **no quota** — ``DONATELLO_BENCH_GENERATIONS`` single images (500) from the same people, no quota: time
  to finish against the ideal ``ceil(N / concurrency) * latency``.

Every answer carries a full-size image (``DONATELLO_BENCH_IMAGE_PX``, 1024: random noise, so its PNG is as
large as a real one), which the worker decodes, stores and thumbnails. Memory per generation in flight
is the worker's RSS added per call while the calls in flight ramp up to their most.

    .venv/bin/python -m bench throughput
"""

from __future__ import annotations

import asyncio
import base64
import functools
import io
import math
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import func, select, text
from tests.support.azure_openai_stub import AzureOpenAIStub, Call, Reply, success_b64

from bench.tenants import bench_tenant
from donatello.config import Settings
from donatello.core.database import set_tenant, transaction
from donatello.generations import admission
from donatello.generations.schemas import GenerationCreate
from donatello.models import Department, DepartmentBudget, Generation, ModelProvider, ProviderConfig, User
from donatello.providers import availability_for
from donatello.resources import open_resources
from donatello.tenancy import Principal, Role

DONATELLO = Path(sys.executable).with_name("donatello")
PEOPLE = int(os.environ.get("DONATELLO_BENCH_PEOPLE", "20"))
DEPARTMENTS = int(os.environ.get("DONATELLO_BENCH_DEPARTMENTS", "4"))
FLOOD = int(os.environ.get("DONATELLO_BENCH_FLOOD", "200"))
QUOTA = int(os.environ.get("DONATELLO_BENCH_QUOTA", "600"))
LATENCY = float(os.environ.get("DONATELLO_BENCH_LATENCY", "2"))
GENERATIONS = int(os.environ.get("DONATELLO_BENCH_GENERATIONS", "500"))
#: the side of the image each answer carries: noise, so its PNG is as large as a real 1024 px image
IMAGE_PX = int(os.environ.get("DONATELLO_BENCH_IMAGE_PX", "1024"))
CONCURRENCY = int(os.environ.get("DONATELLO_BENCH_CONCURRENCY", "64"))
WINDOW = float(os.environ.get("DONATELLO_BENCH_WINDOW", "10"))


async def run(url: str, settings: Settings) -> None:
    settings = settings.model_copy(
        update={
            "rate_limit_user_per_minute": {"power_user": 100_000},
            "rate_limit_user_per_day": {"power_user": 1_000_000},
            "rate_limit_organization_per_minute": 1_000_000,
            "generation_quota_window_seconds": WINDOW,
        }
    )
    stub = AzureOpenAIStub()
    stub.start()
    os.environ["TEST_PROVIDER_KEY"] = stub.api_key
    try:
        async with open_resources(settings, url=url, audit=False) as resources:
            people = await _people(resources.sessionmaker)
            await _flood(url, settings, resources, stub, people)
            await _no_quota(url, settings, resources, stub, people)
    finally:
        stub.stop()


async def _flood(url, settings, resources, stub, people) -> None:  # type: ignore[no-untyped-def]
    model = await _model(resources.sessionmaker, stub, QUOTA)
    flooder, others = people[0], people[1:-1]
    latecomer = people[-1]
    asks = [(flooder, f"flood {i}") for i in range(FLOOD)]
    asks += [(p, f"ask {i} of {n}") for i in range(10) for n, p in enumerate(others)]
    asks.append((latecomer, "the latecomer"))
    ids = [await _ask(resources, settings, who, model, prompt) for who, prompt in asks]
    stub.reply(*(_answer() for _ in ids))
    elapsed, rss_kb, cpu_s, per_call_kb = await _work(url, settings, resources.sessionmaker, ids, stub)

    arrivals = sorted(stub.requests, key=lambda call: call.at)
    per_window = QUOTA * WINDOW / 60
    start = arrivals[0].at
    full = int((arrivals[-1].at - start) // WINDOW)  # windows the queue kept full (the last is not)
    used = [
        sum(1 for c in arrivals if start + k * WINDOW <= c.at < start + (k + 1) * WINDOW) for k in range(full)
    ]
    utilisation = sum(used) / (full * per_window) if full else float("nan")
    busiest = max(sum(1 for c in arrivals if t.at <= c.at < t.at + WINDOW) for t in arrivals)
    department_of = {f"{p.user_id}": p.department_id for p in people}
    by_prompt = {prompt: who for who, prompt in asks}
    # While every department still has jobs waiting: up to the calls of the department that asked least
    # for each of them (after that, the others simply have nothing left to ask for).
    departments = {p.department_id for p in people}
    asked = Counter(department_of[f"{who.user_id}"] for who, _ in asks)
    contended = len(departments) * min(asked[d] for d in departments)
    served = Counter(department_of[f"{by_prompt[c.json['prompt']].user_id}"] for c in arrivals[:contended])
    shares = [served.get(d, 0) for d in departments]
    jain = sum(shares) ** 2 / (len(shares) * sum(x * x for x in shares))
    lone_wait = await _wait(resources.sessionmaker, ids[-1])
    lone_call = next(i for i, c in enumerate(arrivals, 1) if c.json["prompt"] == "the latecomer")
    print(f"flood: {len(ids)} generations ({FLOOD} from one person first), quota {QUOTA}/min")
    print(f"  over {WINDOW:g} s windows, latency {LATENCY:g} s: finished in {elapsed:.1f} s")
    print(f"  failed: {await _failures(resources.sessionmaker, ids)}")
    print(f"  calls per full window {used} of {per_window:g}: utilisation {utilisation:.1%}")
    print(f"  busiest rolling {WINDOW:g} s: {busiest} calls (allowed {per_window:g})")
    print(
        f"  the latecomer's request (queued behind {len(ids) - 1}) was call {lone_call} of {len(arrivals)}, "
        f"{arrivals[lone_call - 1].at - start:.1f} s after the first; it started {lone_wait:.1f} s after it "
        "was queued (the worker's start-up included)"
    )
    print(
        f"  Jain's index across {len(shares)} departments over the first {contended} calls (all of them "
        f"still waiting): {jain:.3f} ({shares})"
    )
    print(f"  worker peak RSS {rss_kb / 1024:.0f} MiB; CPU {cpu_s * 1000 / len(ids):.1f} ms per generation")
    print(f"  RSS per generation in flight: {per_call_kb:.0f} KiB (ramp to the most in flight)")
    stub.reset()


async def _no_quota(url, settings, resources, stub, people) -> None:  # type: ignore[no-untyped-def]
    model = await _model(resources.sessionmaker, stub, None)
    ids = [
        await _ask(resources, settings, people[i % len(people)], model, f"n {i}") for i in range(GENERATIONS)
    ]
    stub.reply(*(_answer() for _ in ids))
    elapsed, rss_kb, cpu_s, per_call_kb = await _work(url, settings, resources.sessionmaker, ids, stub)
    first_call = min(c.at for c in stub.requests)
    after_first = max(c.at for c in stub.requests) + LATENCY - first_call  # the worker's start-up excluded
    ideal = math.ceil(GENERATIONS / CONCURRENCY) * LATENCY
    print(f"no quota: {GENERATIONS} generations, latency {LATENCY:g} s, {CONCURRENCY} in flight")
    print(f"  finished in {elapsed:.1f} s; {after_first:.1f} s from the first call (ideal {ideal:g} s)")
    print(
        f"  most in flight at once: {stub.most_in_flight}; failed: {await _failures(resources.sessionmaker, ids)}"
    )
    print(f"  worker peak RSS {rss_kb / 1024:.0f} MiB; CPU {cpu_s * 1000 / len(ids):.1f} ms per generation")
    print(f"  RSS per generation in flight: {per_call_kb:.0f} KiB (ramp to the most in flight)")


async def _work(url, settings, sessions, ids, stub) -> tuple[float, int, float, float]:  # type: ignore[no-untyped-def]
    """Run a worker process until ``ids`` finish: (seconds, peak RSS KiB, CPU seconds, KiB of RSS per
    generation in flight — the RSS added while the calls in flight ramp up to their most, per call)."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": url,
        "DONATELLO_DATA_DIR": str(settings.data_dir),
        "DONATELLO_GENERATION_QUOTA_WINDOW_SECONDS": str(WINDOW),
        "DONATELLO_GENERATION_CONCURRENCY": str(CONCURRENCY),
        "DONATELLO_WORKER_POLL_SECONDS": "0.1",
    }
    started = time.monotonic()
    worker = subprocess.Popen([DONATELLO, "worker", "--only", "generations"], env=env)  # noqa: ASYNC220
    samples: list[tuple[int, int]] = []  # (calls in flight at the stub, worker RSS KiB)
    try:
        while await _done(sessions, ids) < len(ids):
            await asyncio.sleep(0.2)
            assert worker.poll() is None, "the worker stopped"
            if stub.requests:
                samples.append((stub.in_flight, _status_kb(worker.pid, "VmRSS")))
        elapsed = time.monotonic() - started
        rss_kb = _status_kb(worker.pid, "VmHWM")
        ticks = Path(f"/proc/{worker.pid}/stat").read_text().rsplit(")", 1)[1].split()  # noqa: ASYNC240
        cpu_s = (int(ticks[11]) + int(ticks[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    return elapsed, rss_kb, cpu_s, _per_in_flight(samples)


@functools.cache
def _image_b64() -> str:
    """A PNG of random noise (it does not compress: about 3 MiB at 1024 px, like a real image's)."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (IMAGE_PX, IMAGE_PX), os.urandom(IMAGE_PX * IMAGE_PX * 3)).save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def _answer() -> Reply:
    """gpt-image's success after ``LATENCY`` seconds, carrying a full-size image."""

    def body(call: Call) -> dict[str, Any]:
        answer: dict[str, Any] = success_b64().body(call)  # type: ignore[misc,operator]
        for item in answer["data"]:
            item["b64_json"] = _image_b64()
        return answer

    return Reply(delay_seconds=LATENCY, body=body)


def _status_kb(pid: int, field: str) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith(field + ":")))


def _per_in_flight(samples: list[tuple[int, int]]) -> float:
    """RSS added per call in flight while they ramp up: from the first sample to the one with the most
    in flight (RSS is not given back afterwards, so only the ramp says what a call holds)."""
    if not samples:
        return float("nan")
    peak = max(range(len(samples)), key=lambda i: samples[i][0])
    (low_calls, low_rss), (high_calls, high_rss) = samples[0], samples[peak]
    return (high_rss - low_rss) / (high_calls - low_calls) if high_calls > low_calls else float("nan")


async def _failures(sessions, ids) -> str:  # type: ignore[no-untyped-def]
    """How many failed, and why (none, in a healthy run)."""
    async with transaction(sessions, platform=True) as session:
        rows = await session.execute(
            select(Generation.error_message, func.count())
            .where(Generation.id.in_(ids), Generation.status == "failed")
            .group_by(Generation.error_message)
        )
        found = [f"{count} x {reason}" for reason, count in rows.all()]
    return "; ".join(found) or "none"


async def _done(sessions, ids) -> int:  # type: ignore[no-untyped-def]
    async with transaction(sessions, platform=True) as session:
        rows = await session.execute(
            select(Generation.status).where(
                Generation.id.in_(ids), Generation.status.in_(("completed", "failed"))
            )
        )
        return len(rows.all())


async def _wait(sessions, generation_id: uuid.UUID) -> float:  # type: ignore[no-untyped-def]
    async with transaction(sessions, platform=True) as session:
        row = await session.get(Generation, generation_id)
        assert row is not None
        started = row.details["started_at"]
        return await session.scalar(
            text("SELECT extract(epoch FROM (CAST(:s AS timestamptz) - :c))"),
            {"s": started, "c": row.created_at},
        )  # type: ignore[no-any-return]


async def _people(sessions) -> list[Principal]:  # type: ignore[no-untyped-def]
    """``PEOPLE`` power users spread over ``DEPARTMENTS`` departments of one organization."""
    first = await bench_tenant(sessions)
    people = [first]
    async with transaction(sessions, platform=True) as session:
        departments = [first.department_id]
        template = await session.scalar(
            select(DepartmentBudget).where(DepartmentBudget.department_id == first.department_id)
        )
        assert template is not None
        for d in range(1, DEPARTMENTS):
            dept = Department(organization_id=first.organization_id, name=f"Bench {d}", code=f"B{d}")
            session.add(dept)
            await session.flush()
            session.add(
                DepartmentBudget(
                    organization_id=first.organization_id,
                    department_id=dept.id,
                    monthly_budget_aud=template.monthly_budget_aud,
                    budget_period_start=template.budget_period_start,
                    budget_period_end=template.budget_period_end,
                )
            )
            departments.append(dept.id)
        for i in range(1, PEOPLE):
            department = departments[i % DEPARTMENTS]
            user = User(
                organization_id=first.organization_id,
                department_id=department,
                azure_ad_id=f"bench-{uuid.uuid4().hex}",
                email=f"p{i}-{uuid.uuid4().hex[:6]}@{first.email.split('@')[1]}",
                role="power_user",
                mfa_enabled=True,
            )
            session.add(user)
            await session.flush()
            people.append(Principal(user.id, first.organization_id, department, Role.POWER_USER, user.email))
    return people


async def _model(sessions, stub: AzureOpenAIStub, per_minute: int | None) -> ModelProvider:  # type: ignore[no-untyped-def]
    async with transaction(sessions, platform=True) as session:
        model = ModelProvider(
            provider_name="azure-openai",
            model_name=f"bench-{uuid.uuid4().hex[:8]}",
            api_endpoint=stub.endpoint(),
            cost_per_image_aud=Decimal("0.0800"),
            timeout_seconds=60,
        )
        session.add(model)
        await session.flush()
        session.add(
            ProviderConfig(
                provider_id=model.id,
                max_retries=0,
                rate_limit_per_minute=per_minute,
                configuration={},
                credential={"kind": "environment", "variable": "TEST_PROVIDER_KEY"},
            )
        )
    return model


async def _ask(resources, settings, who: Principal, model: ModelProvider, prompt: str) -> uuid.UUID:  # type: ignore[no-untyped-def]
    gate = admission.Admission(settings, resources.sealer, resources.rate_limiter, availability_for(None))
    body = GenerationCreate(
        prompt=prompt, model=f"azure-openai/{model.model_name}", size="1024x1024", quality="low"
    )
    async with transaction(resources.sessionmaker) as session:
        await set_tenant(session, who.organization_id)
        return (await admission.request(session, who, body, None, gate)).id
