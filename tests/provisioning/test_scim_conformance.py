"""The independent SCIM conformance checker (scim2-tester, through its CLI ``scim2 … test``) against a
live ``donatello serve``: every check it runs — discovery, and create/read/list/search/replace/delete
and PATCH add/remove/replace of every announced attribute for Users and Groups — passes."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from donatello.audit import Actor
from donatello.core.database import transaction
from donatello.provisioning import service as provisioning
from tests.support import factories
from tests.support.ports import free_port
from tests.support.serve_process import DONATELLO

BIN = Path(sys.executable).parent


def _wait_ready(server: subprocess.Popen[bytes], url: str, log: Path, seconds: float = 300) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"serve exited early:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/health/live", timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become ready")


def _serve_and_check(postgres_url: str, workdir: Path, token: str) -> subprocess.CompletedProcess[str]:
    """``donatello serve`` on the test database (logs to a file: an undrained pipe would stall it), then
    the checker against it."""
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")},
        "DONATELLO_DATABASE_URL": postgres_url,
        "DONATELLO_DATA_DIR": str(workdir),
    }
    with (workdir / "serve.log").open("w") as log:
        server = subprocess.Popen(
            [DONATELLO, "serve", "--port", str(port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_ready(server, url, workdir / "serve.log")
            return subprocess.run(
                [str(BIN / "scim2"), "--url", f"{url}/scim/v2", "test"],
                env={**env, "SCIM_CLI_HEADERS": f"Authorization: Bearer {token}"},
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
        finally:
            server.terminate()
            try:
                server.wait(timeout=120)  # a graceful stop takes long on a busy machine
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()


async def test_scim2_tester_passes_every_check_for_users_and_groups(
    engine: AsyncEngine, postgres_url: str, tmp_path: Path
) -> None:
    sessions = async_sessionmaker(engine, expire_on_commit=False)
    async with transaction(sessions, platform=True) as session:  # a committed tenant the server can see
        org = await factories.organization(session)
        token = (await provisioning.issue(session, org.id, Actor(None, None, {"actor": "test"}))).token
    try:
        checked = await asyncio.to_thread(_serve_and_check, postgres_url, tmp_path, token)
    finally:
        owner = create_async_engine(postgres_url)
        async with owner.begin() as connection:
            await connection.execute(text("SELECT set_config('app.retention', 'on', true)"))
            await connection.execute(text("DELETE FROM organizations WHERE id = :id"), {"id": org.id})
        await owner.dispose()

    results = re.findall(r"^(SUCCESS|ERROR|SKIPPED|CRITICAL)\s+(\w+)", checked.stdout, re.MULTILINE)
    failed = [line for line in checked.stdout.splitlines() if not line.startswith(("SUCCESS", "  "))]
    assert checked.returncode == 0, checked.stdout[-4000:] + checked.stderr[-2000:]
    assert all(status == "SUCCESS" for status, _ in results), failed
    names = [name for _, name in results]
    # Both resource types went through the whole lifecycle (one run of each CRUD check per type).
    for check in ("object_creation", "object_query", "object_replacement", "object_deletion"):
        assert names.count(check) == 2, (check, names.count(check))
    assert names.count("search_with_attributes") == 4
    assert len(results) >= 76
