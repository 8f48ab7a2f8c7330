"""Where the database lives: the configured server, or the embedded default started on demand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from donatello.config import Settings
from donatello.core import migrations
from donatello.core.embedded_postgres import EmbeddedPostgres


@contextmanager
def database_url(settings: Settings, *, migrate: bool = True) -> Iterator[str]:
    """Yield the URL to connect to; an embedded server started here is released on exit.

    The embedded default is self-contained, so it is brought to the newest schema first (alembic's own
    environment passes ``migrate=False``); a configured server is migrated only when the operator says
    so (``donatello migrate``).
    """
    if settings.database_url:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.embedded_database_dir)
    try:
        url = embedded.start()
        if migrate:
            migrations.upgrade(url)
        yield url
    finally:
        embedded.stop()
