"""The audit store away under load, on a live `donatello serve` with its in-process relay: Cosmos DB
(the emulator behind a loopback gateway whose port closes, as an unreachable service's does) goes away
while clients post generations. Admission goes on and /health/ready says degraded with the backlog; once
the outbox holds its bound, new generations get 503 ``audit-backlog-full``; when Cosmos answers again the
relay catches up, admission resumes, and every event is stored exactly once with its chain intact.

The outage is time-compressed (``DONATELLO_TEST_AUDIT_OUTAGE_SECONDS``, 30 s by default); run with -s to
see the drill's figures."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from donatello.config import Settings
from tests.support.admission_load import Load
from tests.support.audit_helpers import org_documents, raw_container
from tests.support.cosmos_emulator import KEY, CosmosEmulator
from tests.support.cosmos_throttle import CosmosGateway
from tests.support.serve_process import ServeProcess

#: owns the machine for a minute or two: `make test` runs it after the parallel tests, alone
pytestmark = pytest.mark.drill

NO_LIMITS = '{"power_user": 1000000}'
OUTAGE_SECONDS = float(os.environ.get("DONATELLO_TEST_AUDIT_OUTAGE_SECONDS", "30"))
MAX_BACKLOG = 200  # reached within seconds of load, on two busy cores too


@pytest.fixture
def live(
    cosmos: CosmosEmulator, cosmos_settings: Settings, tmp_path: Path
) -> Iterator[tuple[ServeProcess, CosmosGateway]]:
    gateway = CosmosGateway(cosmos.endpoint, tmp_path).start()
    server = ServeProcess(
        cosmos_endpoint=gateway.endpoint,
        cosmos_key=KEY,
        audit_outbox_max_backlog=str(MAX_BACKLOG),
        audit_relay_retry_seconds="2",
        rate_limit_user_per_minute=NO_LIMITS,
        rate_limit_user_per_day=NO_LIMITS,
        rate_limit_organization_per_minute="1000000",
    )
    try:
        yield server.start(), gateway
    finally:
        server.stop()
        gateway.stop()


def _undelivered(server: ServeProcess) -> int:
    ((count,),) = server.sql("SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL")
    assert isinstance(count, int)
    return count


def _ready(server: ServeProcess) -> httpx.Response:
    return httpx.get(f"{server.url}/health/ready", timeout=10)


async def _stored(settings: Settings, organizations: list[str]) -> dict[str, list[str]]:
    """The ids of the documents Cosmos holds for each organization."""
    async with raw_container(settings) as container:
        return {
            org: [d["id"] for d in await org_documents(container, uuid.UUID(org))] for org in organizations
        }


def _wait_for(what: str, condition: Any, seconds: float) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < seconds, f"gave up waiting: {what}"
        time.sleep(0.2)
    return time.monotonic() - started


def test_with_cosmos_away_admission_goes_on_up_to_the_bound_and_the_relay_catches_up(
    live: tuple[ServeProcess, CosmosGateway], cosmos_settings: Settings
) -> None:
    server, gateway = live
    token = server.token("power_user@acme.com.au")
    readings: list[dict[str, Any]] = []

    with Load(server, token, clients=4) as load:
        time.sleep(2)
        gateway.go_away()
        went_away = time.monotonic()
        while time.monotonic() - went_away < OUTAGE_SECONDS:
            ready = _ready(server)
            assert ready.status_code == 200, ready.text  # degraded, never unready
            readings.append(ready.json())
            time.sleep(1)
        admitted_during = len([t for t in load.admitted_at if t > went_away])
        backlog_peak = _undelivered(server)
        ((recovered_at,),) = server.sql("SELECT clock_timestamp()")
        gateway.start()
        back = time.monotonic()
        caught_up_s = _wait_for("the relay catches up", lambda: _undelivered(server) < 50, 120)
        resumed_s = _wait_for(
            "admission resumes", lambda: any(t > back + caught_up_s for t in load.admitted_at), 30
        )
    ((delivered_since,),) = server.sql(
        f"SELECT count(*) FROM audit_outbox WHERE delivered_at >= '{recovered_at}'"
    )
    refused = [r for r in load.unavailable if r.json()["type"].endswith("/audit-backlog-full")]
    print(  # noqa: T201 - the drill's figures, shown with -s
        f"\naudit outage drill: {OUTAGE_SECONDS:.0f} s away, {dict(load.statuses)}; {admitted_during} admitted "
        f"while away; backlog peak {backlog_peak} (bound {MAX_BACKLOG}); caught up in {caught_up_s:.1f} s: "
        f"{int(str(delivered_since)) / max(caught_up_s, 0.1):.0f} events/s delivered; admission resumed "
        f"{caught_up_s + resumed_s:.1f} s after the store came back"
    )

    # What clients saw: 202s and, once the outbox held its bound, 503 problem+json with Retry-After.
    assert load.transport_errors == []
    assert set(load.statuses) <= {202, 503}, load.statuses
    assert admitted_during > 0, "admission went on while the audit store was away"
    assert refused and len(refused) == len(load.unavailable)
    for response in refused:
        assert response.headers["content-type"] == "application/problem+json"
        assert int(response.headers["retry-after"]) >= 1
    assert backlog_peak >= MAX_BACKLOG
    # What the probe said while Cosmos was away: degraded, the backlog and its age, the refusal.
    assert all(r["checks"]["cosmos"]["status"] == "degraded" for r in readings[2:])
    relay = readings[-1]["checks"]["audit_relay"]
    assert readings[-1]["status"] == "degraded"
    assert relay["undelivered"] >= MAX_BACKLOG and relay["oldest_undelivered_age_s"] > 5
    assert relay["effect"] == "new generations refused until the relay catches up"

    # Every event stored exactly once, and each organization's chain verifies.
    _wait_for(
        "everything settles",
        lambda: (
            _undelivered(server) == 0
            and not server.sql("SELECT 1 FROM generations WHERE status IN ('pending', 'processing')")
        ),
        600,  # only a bound on the wait: a hundred-odd images rendered on busy shared cores take a while
    )
    _wait_for("the last events ship", lambda: _undelivered(server) == 0, 30)
    events: dict[str, list[str]] = {}
    for organization_id, event_id in server.sql(
        "SELECT organization_id, event_id FROM audit_outbox WHERE organization_id IS NOT NULL"
    ):
        events.setdefault(str(organization_id), []).append(str(event_id))
    stored = asyncio.run(_stored(cosmos_settings, list(events)))
    for organization_id, ids in events.items():
        assert len(stored[organization_id]) == len(set(stored[organization_id])), "an event was stored twice"
        assert sorted(stored[organization_id]) == sorted(ids), "an event is missing"
        verify = server.command("audit", "verify", "--org", organization_id)
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert server.command("budgets", "check").returncode == 0
