"""A database failover under admission load, as Azure's zone-redundant high availability does it: a
primary with a synchronous streaming standby, `donatello serve` on both addresses with
``target_session_attrs=read-write``; the primary dies and the standby is promoted while clients post
generations. Clients see only 503s meanwhile, admission resumes on the new primary, and every generation
admitted — before the kill too — is there, completes and is charged once. Run with -s for the figures."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal

import httpx
import pytest

from tests.support.admission_load import Load
from tests.support.replicated_postgres import ReplicatedPostgres
from tests.support.serve_process import ServeProcess

#: owns the machine for a minute or two: `make test` runs it after the parallel tests, alone
pytestmark = pytest.mark.drill

NO_LIMITS = '{"power_user": 1000000}'
RESUMES_WITHIN_SECONDS = 15  # from the primary's death to the first generation admitted by the new one


@pytest.fixture
def replicated() -> Iterator[ReplicatedPostgres]:
    database = ReplicatedPostgres().start()
    yield database
    database.stop()


@pytest.fixture
def server(replicated: ReplicatedPostgres) -> Iterator[ServeProcess]:
    serving = ServeProcess(
        database_url=replicated.url,
        in_process_worker="true",
        rate_limit_user_per_minute=NO_LIMITS,
        rate_limit_user_per_day=NO_LIMITS,
        rate_limit_organization_per_minute="1000000",
    )
    yield serving.start()
    serving.stop()


def test_a_failover_under_load_costs_only_503s_and_loses_nothing(
    replicated: ReplicatedPostgres, server: ServeProcess
) -> None:
    token = server.token("power_user@acme.com.au")
    with Load(server, token, clients=4) as load:
        time.sleep(3)
        killed = time.monotonic()
        admitted_before = list(load.admitted_ids)
        replicated.fail_over()
        promoted = time.monotonic()
        while not any(t > promoted for t in load.admitted_at):
            assert time.monotonic() - killed < 60, "admission did not resume on the new primary"
            time.sleep(0.05)
        resumed_s = min(t for t in load.admitted_at if t > promoted) - killed
        time.sleep(2)
    admitted = list(load.admitted_ids)
    print(  # noqa: T201 - the drill's figures, shown with -s
        f"\nfailover drill: {dict(load.statuses)}; {len(admitted_before)} admitted before the kill; promoted "
        f"{promoted - killed:.2f} s after it; admission resumed {resumed_s:.2f} s after it; "
        f"{len(load.unavailable)} 503s"
    )

    # What clients saw: 202 or 503 database-unavailable with Retry-After; never a 500, never a reset.
    assert load.transport_errors == []
    assert set(load.statuses) <= {202, 503}, load.statuses
    for response in load.unavailable:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
        assert response.json()["type"] == "https://donatello.ai/problems/database-unavailable"
    assert resumed_s < RESUMES_WITHIN_SECONDS
    assert httpx.get(f"{server.url}/health/ready", timeout=10).status_code == 200

    # Nothing lost: every 202 (those before the kill above all) is a generation on the new primary, which
    # completes and is charged exactly once.
    deadline = time.monotonic() + 240
    while replicated.sql("SELECT 1 FROM generations WHERE status IN ('pending', 'processing') LIMIT 1"):
        assert time.monotonic() < deadline, "generations still unfinished after the failover"
        time.sleep(0.5)
    rows = replicated.sql(
        "SELECT g.id::text, g.status, (SELECT count(*) FROM cost_events c"
        " WHERE c.generation_id = g.id AND c.kind = 'charge') FROM generations g"
    )
    found = {generation_id: (status, charges) for generation_id, status, charges in rows}
    assert set(admitted_before) <= set(found), "a generation admitted before the kill was lost"
    assert set(admitted) == set(found), "generations differ from the 202s the clients saw"
    assert {found[g] for g in admitted} == {("completed", 1)}, "a generation unfinished or charged twice"
    ((reserved, held),) = replicated.sql(
        "SELECT (SELECT sum(reserved_aud) FROM department_budgets),"
        " (SELECT count(*) FROM budget_reservations WHERE status = 'held')"
    )
    assert (reserved, held) == (Decimal(0), 0)
    check = server.command("budgets", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    ((organization_id,),) = replicated.sql("SELECT id FROM organizations WHERE domain = 'acme.com.au'")
    verify = server.command("audit", "verify", "--org", str(organization_id))
    assert verify.returncode == 0, verify.stdout + verify.stderr
