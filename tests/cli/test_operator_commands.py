"""The operator's view: `donatello serve` on the embedded default, other commands beside it, data kept
across restarts, the embedded server stopped when the last process exits."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

from tests.support.serve_process import DONATELLO, ServeProcess


@pytest.fixture
def installation() -> Iterator[ServeProcess]:
    """A data directory of its own: `donatello serve` (started when a test needs it) and the commands
    beside it; serve is stopped and the directory removed afterwards."""
    serve = ServeProcess()
    yield serve
    serve.stop()


def test_serve_runs_on_the_embedded_default_beside_other_commands_and_keeps_data(
    installation: ServeProcess,
) -> None:
    server = installation.start()
    assert httpx.get(f"{server.url}/docs").status_code == 200

    # Commands run while serve is up share its embedded server.
    token = installation.command("token", "--email", "org_admin@acme.com.au")
    assert token.returncode == 0, token.stderr
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    created = httpx.post(
        f"{server.url}/v1/departments", json={"name": "Legal", "code": "LEGAL"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert installation.command("migrate").returncode == 0
    assert "already present" in installation.command("seed-demo").stdout
    assert httpx.get(f"{server.url}/health/ready").status_code == 200

    assert server.interrupt() == 0
    assert not (server.postgres_dir / "postmaster.pid").exists(), "the last process out stops PostgreSQL"

    again = installation.start()  # the same data directory
    token_again = installation.command("token", "--email", "org_admin@acme.com.au").stdout.strip()
    codes = [
        d["code"]
        for d in httpx.get(
            f"{again.url}/v1/departments", headers={"Authorization": f"Bearer {token_again}"}
        ).json()["items"]
    ]
    assert codes == ["ENGG", "LEGAL", "MKTG", "SALES"]
    assert again.interrupt() == 0


def test_worker_runs_the_audit_relay_until_told_to_stop_and_unknown_users_answer_clearly(
    installation: ServeProcess,
) -> None:
    worker = subprocess.Popen(
        [DONATELLO, "worker"],
        env=installation.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert worker.stdout is not None  # piped above
        lines = iter(worker.stdout.readline, "")
        assert any("worker started" in line and "audit-relay" in line for line in lines)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    missing = installation.command("token", "--email", "nobody@acme.com.au")
    assert missing.returncode != 0
    assert "no active user with email" in missing.stderr
    assert missing.stdout == ""
    assert installation.command("seed-demo").returncode == 0
    short = installation.command("token", "--email", "finance@acme.com.au", "--ttl", "5m")
    assert short.returncode == 0, short.stderr
    assert short.stdout.count("\n") == 1 and short.stdout.count(".") == 2  # only the token
    claims = jwt.decode(short.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] in (300, 301)  # exp is rounded up to a whole second
    assert claims["sid"]  # its own session: logout or revoke-all ends it
    too_long = installation.command("token", "--email", "finance@acme.com.au", "--ttl", "2h")
    assert too_long.returncode != 0 and too_long.stdout == ""


def test_migrate_takes_the_embedded_default_to_the_revision_asked_for(installation: ServeProcess) -> None:
    import psycopg

    from donatello.core.embedded_postgres import EmbeddedPostgres

    assert installation.command("migrate", "0004").returncode == 0
    embedded = EmbeddedPostgres(installation.postgres_dir)
    url = embedded.start()
    try:
        host = url.split("host=", 1)[1]
        with psycopg.connect(host=host, user="postgres", dbname="donatello") as conn:
            version = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    finally:
        embedded.stop()
    assert version == ("0004",)  # not head: an operator may stop at (or go back to) any revision


def _postgres_processes_of(data_dir: Path) -> list[int]:
    """Live postgres processes whose command line names ``data_dir`` (the postmaster's ``-D``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if "postgres" in command and str(data_dir) in command:
            found.append(int(entry.name))
    return found


def test_sigterm_stops_serve_and_the_embedded_postgres_with_it(installation: ServeProcess) -> None:
    """On SIGTERM (systemd, Docker, CI) serve exited but left PostgreSQL running."""
    server = installation.start()
    data_dir = server.data_dir
    assert _postgres_processes_of(data_dir), "the embedded PostgreSQL runs while serve does"

    assert server.interrupt(signal.SIGTERM, seconds=60) == 0
    deadline = time.monotonic() + 10
    while _postgres_processes_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _postgres_processes_of(data_dir) == []
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
