"""`donatello serve --workers 2` on the embedded default: two server processes answer on one port, one
embedded PostgreSQL serves both, the background jobs run once (in a process of their own), and SIGTERM
leaves no process behind."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.serve_process import ServeProcess

GENERATION = {"prompt": "two workers", "model": "local/pillow-sketch", "size": "256x256"}
GENERATIONS = 12


@pytest.fixture
def server() -> Iterator[ServeProcess]:
    started = ServeProcess(workers=2, rate_limit_user_per_minute='{"power_user": 1000000}')
    try:
        yield started.start()
    finally:
        started.stop()


def _pids(server: ServeProcess, message: str) -> set[int]:
    return {int(e["pid"]) for e in server.log_entries() if str(e.get("message", "")).startswith(message)}


def _answering_pids(server: ServeProcess, wanted: int, seconds: float = 60) -> set[int]:
    """Processes that logged a finished request, after rounds of concurrent requests on new connections."""
    deadline = time.monotonic() + seconds

    def hit() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as fresh:  # a new connection each time
            fresh.get("/")

    while True:
        rounds = [threading.Thread(target=hit) for _ in range(16)]
        for thread in rounds:
            thread.start()
        for thread in rounds:
            thread.join()
        seen = {int(e["pid"]) for e in server.log_entries() if e.get("message") == "request finished"}
        if len(seen) >= wanted or time.monotonic() > deadline:
            return seen


def test_two_server_processes_share_the_port_the_jobs_run_once_and_sigterm_stops_everything(
    server: ServeProcess,
) -> None:
    assert server.process is not None
    deadline = time.monotonic() + 60
    while len(_pids(server, "Application startup complete")) < 2:  # ready once the first one serves
        assert time.monotonic() < deadline, "the second server process did not start"
        time.sleep(0.2)
    servers = _pids(server, "Started server process")
    jobs = _pids(server, "background jobs started")
    assert len(servers) == 2 and len(jobs) == 1 and not servers & jobs
    assert servers | jobs <= set(server.descendants())

    assert _answering_pids(server, wanted=2) == servers, "both server processes answer on the one port"

    # Generations admitted by either server are completed by the one job process, each exactly once.
    token = server.token("power_user@acme.com.au")

    def admit(count: int) -> None:
        with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {token}"}) as http:
            for _ in range(count):
                assert http.post("/v1/generations", json=GENERATION, timeout=30).status_code == 202

    clients = [threading.Thread(target=admit, args=(GENERATIONS // 4,)) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    deadline = time.monotonic() + 180
    while server.sql("SELECT count(*) FROM generations WHERE status <> 'completed'")[0][0]:
        assert time.monotonic() < deadline, "generations still unfinished"
        time.sleep(0.5)
    ((completed, charged, charges),) = server.sql(
        "SELECT (SELECT count(*) FROM generations WHERE status = 'completed'),"
        " (SELECT count(DISTINCT generation_id) FROM cost_events WHERE kind = 'charge'),"
        " (SELECT count(*) FROM cost_events WHERE kind = 'charge')"
    )
    assert completed == charged == charges == GENERATIONS
    assert _pids(server, "worker started") == jobs, "one worker, in the job process, not in the servers"
    job_loggers = ("donatello.worker", "donatello.generations", "donatello.audit.relay")
    assert {
        int(e["pid"]) for e in server.log_entries() if str(e.get("logger", "")).startswith(job_loggers)
    } <= jobs
    # Whichever server answers a scrape reports every process's counters, the job process's included.
    for _ in range(6):
        with httpx.Client(base_url=server.url, timeout=10) as fresh:
            scraped = fresh.get("/metrics").text
        completed_metric = [
            float(line.rsplit(" ", 1)[1])
            for line in scraped.splitlines()
            if line.startswith("donatello_generations_total{") and 'status="completed"' in line
        ]
        assert sum(completed_metric) == GENERATIONS, scraped
    ((organization_id,),) = server.sql("SELECT id FROM organizations WHERE domain = 'acme.com.au'")
    deadline = time.monotonic() + 60
    while server.sql("SELECT count(*) FROM audit_outbox WHERE delivered_at IS NULL")[0][0]:
        assert time.monotonic() < deadline, "the audit relay did not deliver"
        time.sleep(0.5)
    verify = server.command("audit", "verify", "--org", str(organization_id))
    assert verify.returncode == 0, verify.stdout + verify.stderr

    everything = set(server.descendants())
    assert server.postgres_processes(), "the embedded PostgreSQL runs while serve does"
    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=90) == 0
    deadline = time.monotonic() + 10
    while (server.postgres_processes() or _alive(everything)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(everything) == set(), "a server or the job process outlived serve"
    assert server.postgres_processes() == []
    assert not (server.postgres_dir / "postmaster.pid").exists()


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]  # noqa: SIM115
        except OSError:
            continue
        if state != "Z":
            alive.add(pid)
    return alive
