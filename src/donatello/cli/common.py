"""What every operator command shares: one-line refusals of bad input, and parsers for days, ids,
organizations and durations; the database set-up of a command."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import NoReturn, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.config import get_settings
from donatello.core.database import create_engine, create_sessionmaker, transaction
from donatello.core.runtime import database_url

log = logging.getLogger("donatello.cli")
T = TypeVar("T")


#: Commands that run until stopped and narrate what they do; the others keep stderr for errors.
LONG_RUNNING = {"serve", "worker"}


def refuse(option: str, problem: str) -> NoReturn:
    """Bad input: one line on stderr naming the option, exit code 2 (no usage box, no traceback)."""
    typer.echo(f"error: {option}: {problem}", err=True)
    raise typer.Exit(2)


def a_duration(text: str) -> timedelta:
    units = {"s": 1, "m": 60, "h": 3600}
    try:
        seconds = int(text[:-1]) * units[text[-1]]
    except (KeyError, ValueError, IndexError):
        refuse("--ttl", "use a number with s, m or h, e.g. 15m")
    if not 0 < seconds <= 15 * 60:
        refuse("--ttl", "an access token lives between 1s and 15m")
    return timedelta(seconds=seconds)


def a_day(value: str, hint: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        refuse(hint, f"{value!r} is not a date; use YYYY-MM-DD")


def an_id(value: str, hint: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        refuse(hint, f"{value!r} is not an id; use one such as 0b7c9d2e-…")


@dataclass(frozen=True)
class Database:
    """The configured database for one command: its address, engine and sessions."""

    url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    async def organization(self, value: str) -> uuid.UUID:
        """An organization named by its id or its domain (``acme.com.au``); bad input is refused."""
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
        from sqlalchemy import select

        from donatello.models import Organization

        async with transaction(self.sessions, platform=True) as session:
            found: uuid.UUID | None = await session.scalar(
                select(Organization.id).where(Organization.domain == value.strip().lower())
            )
        if found is None:
            refuse("--org", f"no organization has the id or domain {value!r}")
        return found


def with_database(work: Callable[[Database], Awaitable[T]], *, pool_size: int = 1) -> T:
    """Run ``work`` on the configured database (joining a running embedded server) and close everything
    after: the set-up every command that needs the database shares."""
    with database_url(get_settings()) as url:
        return on_database(url, work, pool_size=pool_size)


def on_database(url: str, work: Callable[[Database], Awaitable[T]], *, pool_size: int = 1) -> T:
    """``with_database`` for a command that already holds the database's address (``serve`` seeding the
    demo tenant into the server it is starting)."""
    settings = get_settings()

    async def run() -> T:
        engine = create_engine(url, app_role=settings.database_app_role, pool_size=pool_size)
        try:
            return await work(Database(url, engine, create_sessionmaker(engine)))
        finally:
            await engine.dispose()

    return asyncio.run(run())
