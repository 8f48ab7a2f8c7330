"""Browser tests: a live server (uvicorn in a thread, its in-process worker on, sending e-mail through a
loopback SMTP server) over its own committed database, emptied and re-seeded before each test, driven by
headless Chromium through Playwright.

They cannot share the other tests' rolled-back transaction: the server and the worker commit for real.
The servers are session fixtures (one set per pytest-xdist worker), not package ones: a worker runs web
tests between others, and a narrower scope would start them again each time it came back.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright
from pydantic import SecretStr
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from donatello.config import Settings
from donatello.core import migrations
from tests.support.browser import LAUNCH_ARGS, chromium_executable
from tests.support.idp import EntraUser, IdentityProvider
from tests.support.live_server import LiveServer
from tests.support.ports import free_port
from tests.support.smtp_server import PASSWORD, USERNAME, SmtpServer
from tests.support.webhook_receiver import Receiver
from tests.web import world as worlds


@pytest.fixture(scope="session")
def web_database(postgres_url: str) -> str:
    """A database of its own in the test cluster, migrated to head."""
    name = f"donatello_web_{uuid.uuid4().hex[:8]}"
    owner = make_url(postgres_url)
    engine = create_engine(owner, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with engine.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    url = owner.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def webhook_receiver(workdir: Path) -> Iterator[Receiver]:
    """A loopback HTTPS receiver the live server's worker delivers to. Its certificate names 127.0.0.1:
    the worker resolves names with the system resolver, which knows no test names."""
    (workdir / "web-receiver").mkdir(exist_ok=True)  # its own CA file beside the delivery tests' receiver
    receiver = Receiver(workdir / "web-receiver", hostname="127.0.0.1")
    yield receiver.start()
    receiver.stop()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server on loopback (aiosmtpd, AUTH required) the live server's worker sends e-mail
    through; it keeps every message it accepted, for a story to read."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def live_server(
    settings: Settings, web_database: str, workdir: Path, webhook_receiver: Receiver, smtp_server: SmtpServer
) -> Iterator[LiveServer]:
    configured = settings.model_copy(
        update={
            "database_url": web_database,
            "data_dir": workdir / "web-data",
            "host": "127.0.0.1",
            "port": free_port(),
            "in_process_worker": True,
            "worker_poll_seconds": 0.1,
            "audit_relay_poll_seconds": 5.0,
            "web_local_sign_in": None,
            "webhooks_allow_private_targets": True,
            "webhooks_ca_bundle": webhook_receiver.ca_bundle,
            "webhooks_poll_seconds": 0.1,
            "notifications_poll_seconds": 0.2,
            "smtp_host": "127.0.0.1",
            "smtp_port": smtp_server.port,
            "smtp_username": USERNAME,
            "smtp_password": SecretStr(PASSWORD),
            "smtp_starttls": False,  # loopback; production settings use STARTTLS
            "smtp_from": "DonatelloAI <notifications@contoso.example>",
            "smtp_timeout_seconds": 5.0,
        }
    )
    server = LiveServer.of(configured).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def local_server(live_server: LiveServer) -> Iterator[LiveServer]:
    """What `make run` serves: no Entra ID, loopback, so local sign-in. Same database as ``live_server``
    (whose worker runs the generations of both)."""
    configured = live_server.settings.model_copy(
        update={
            "entra_tenant_id": None,
            "entra_client_id": None,
            "entra_client_secret": None,
            "port": free_port(),
            "in_process_worker": False,
        }
    )
    server = LiveServer.of(configured).start()
    yield server
    server.stop()


@pytest.fixture
def world(live_server: LiveServer, web_database: str) -> worlds.World:
    """Before each test: every table emptied, then the demo tenant and Globex seeded (committed)."""
    worlds.clean(web_database)
    return worlds.build(
        web_database, live_server.settings.database_app_role, live_server.settings.default_timezone
    )


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    """Module-scoped: while Playwright's sync driver runs, this thread's event loop is its own, so async
    tests (pytest-asyncio) cannot run in the same module."""
    with sync_playwright() as driver:
        yield driver


@pytest.fixture
def browser(playwright: Playwright) -> Iterator[Browser]:
    """One browser per test (it starts in well under a second): with ``--single-process`` Chromium does
    not survive closing one of several contexts, so contexts are never closed, only the browser."""
    chromium = playwright.chromium.launch(executable_path=chromium_executable(), args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Console errors and uncaught exceptions of every page a test opens (a CSP violation is one)."""
    return []


@pytest.fixture
def new_context(browser: Browser, page_errors: list[str]) -> Callable[..., BrowserContext]:
    """Fresh browsers (cookie jars); the IdP's loopback certificate is trusted, nothing else changes."""

    def watch(page: Page) -> None:
        page.on(
            "console", lambda message: page_errors.append(message.text) if message.type == "error" else None
        )
        page.on("pageerror", lambda error: page_errors.append(str(error)))

    def make(width: int = 1280, height: int = 900) -> BrowserContext:
        context = browser.new_context(
            viewport={"width": width, "height": height}, ignore_https_errors=True, locale="en-AU"
        )
        context.set_default_timeout(15_000)
        context.on("page", watch)
        return context

    return make


@pytest.fixture
def sign_in(
    live_server: LiveServer, idp: IdentityProvider, new_context: Callable[..., BrowserContext]
) -> Callable[..., Page]:
    """A page signed in through the whole Entra dance as ``who``, landed on ``start``."""

    def go(who: EntraUser, start: str = "/", *, width: int = 1280) -> Page:
        idp.sign_in_as(who)
        page = new_context(width=width).new_page()
        page.goto(live_server.url + start)
        page.wait_for_url(re.compile(re.escape(live_server.url) + r"/(?!sign-in)"))
        return page

    return go
