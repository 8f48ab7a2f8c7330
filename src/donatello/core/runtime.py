"""Where the database lives: the configured server, or the embedded default started on demand."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from donatello.config import Settings
from donatello.core import migrations
from donatello.core.embedded_postgres import EmbeddedPostgres


@contextmanager
def database_url(settings: Settings) -> Iterator[str]:
    """Yield the URL to connect to; an embedded server started here is released on exit.

    The embedded default is self-contained, so it is always brought to the newest schema first; a
    configured server is migrated only when the operator says so (``donatello migrate``).
    """
    if settings.database_url:
        yield settings.database_url
        return
    embedded = EmbeddedPostgres(settings.embedded_database_dir)
    try:
        url = embedded.start()
        migrations.upgrade(url)
        yield url
    finally:
        embedded.stop()
