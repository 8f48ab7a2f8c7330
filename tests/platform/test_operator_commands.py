"""The operator's view: `donatello serve` on the embedded default, other commands beside it, data kept
across restarts, the embedded server stopped when the last process exits."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import jwt
import pytest

DONATELLO = str(Path(sys.executable).with_name("donatello"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def environment() -> Iterator[dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    data_dir = Path(tempfile.mkdtemp(prefix="donatello-cli-", dir="/tmp"))  # never under /root
    env["DONATELLO_DATA_DIR"] = str(data_dir)
    yield env
    shutil.rmtree(data_dir, ignore_errors=True)


def _run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [DONATELLO, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class Server:
    def __init__(self, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.process = subprocess.Popen(
            [DONATELLO, "serve", "--migrate", "--seed-demo", "--port", str(self.port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.process.stdout.read()}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError("serve did not become ready")

    def stop(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=30)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()


def test_serve_runs_on_the_embedded_default_beside_other_commands_and_keeps_data(
    environment: dict[str, str], servers: list[Server]
) -> None:
    data_dir = Path(environment["DONATELLO_DATA_DIR"])
    server = Server(environment)
    servers.append(server)
    server.wait_ready()
    assert httpx.get(f"{server.url}/docs").status_code == 200

    # Commands run while serve is up share its embedded server.
    token = _run(environment, "token", "--email", "org_admin@acme.com.au")
    assert token.returncode == 0, token.stderr
    headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
    created = httpx.post(
        f"{server.url}/v1/departments", json={"name": "Legal", "code": "LEGAL"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert _run(environment, "migrate").returncode == 0
    assert "already present" in _run(environment, "seed-demo").stdout
    assert httpx.get(f"{server.url}/health/ready").status_code == 200

    assert server.stop() == 0
    assert not (data_dir / "postgres" / "postmaster.pid").exists(), "the last process out stops PostgreSQL"

    again = Server(environment)
    servers.append(again)
    again.wait_ready()
    token = _run(environment, "token", "--email", "org_admin@acme.com.au").stdout.strip()
    codes = [
        d["code"]
        for d in httpx.get(
            f"{again.url}/v1/departments", headers={"Authorization": f"Bearer {token}"}
        ).json()["items"]
    ]
    assert codes == ["ENGG", "LEGAL", "MKTG", "SALES"]
    assert again.stop() == 0


def test_worker_runs_the_audit_relay_until_told_to_stop_and_unknown_users_answer_clearly(
    environment: dict[str, str],
) -> None:
    worker = subprocess.Popen(
        [DONATELLO, "worker"], env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        lines = iter(worker.stdout.readline, "")  # type: ignore[union-attr]
        assert any("worker started" in line and "audit-relay" in line for line in lines)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
    missing = _run(environment, "token", "--email", "nobody@acme.com.au")
    assert missing.returncode != 0
    assert "no active user with email" in missing.stderr
    assert missing.stdout == ""
    assert _run(environment, "seed-demo").returncode == 0
    short = _run(environment, "token", "--email", "finance@acme.com.au", "--ttl", "5m")
    assert short.returncode == 0, short.stderr
    assert short.stdout.count("\n") == 1 and short.stdout.count(".") == 2  # only the token
    claims = jwt.decode(short.stdout.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] in (300, 301)  # exp is rounded up to a whole second
    assert claims["sid"]  # its own session: logout or revoke-all ends it
    too_long = _run(environment, "token", "--email", "finance@acme.com.au", "--ttl", "2h")
    assert too_long.returncode != 0 and too_long.stdout == ""


def test_migrate_takes_the_embedded_default_to_the_revision_asked_for(environment: dict[str, str]) -> None:
    import psycopg

    from donatello.core.embedded_postgres import EmbeddedPostgres

    assert _run(environment, "migrate", "0004").returncode == 0
    embedded = EmbeddedPostgres(Path(environment["DONATELLO_DATA_DIR"]) / "postgres")
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


def test_sigterm_stops_serve_and_the_embedded_postgres_with_it(
    environment: dict[str, str], servers: list[Server]
) -> None:
    """Issue #12: on SIGTERM (systemd, Docker, CI) serve exited but left PostgreSQL running."""
    data_dir = Path(environment["DONATELLO_DATA_DIR"])
    server = Server(environment)
    servers.append(server)
    server.wait_ready()
    assert _postgres_processes_of(data_dir), "the embedded PostgreSQL runs while serve does"

    server.process.send_signal(signal.SIGTERM)

    assert server.process.wait(timeout=60) == 0
    deadline = time.monotonic() + 10
    while _postgres_processes_of(data_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _postgres_processes_of(data_dir) == []
    assert not (data_dir / "postgres" / "postmaster.pid").exists()
