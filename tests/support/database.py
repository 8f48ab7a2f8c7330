"""The tests' PostgreSQL: the role the application acts as, and a database of each pytest-xdist worker's own
when the suite runs against a server it was given (``DONATELLO_TEST_DATABASE_URL``)."""

from __future__ import annotations

from sqlalchemy import create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.support import workers

#: The application's role (row-level security applies to it; the migrations create it).
APP_ROLE = "donatello_app"


def of_this_worker(url: str) -> str:
    """Under pytest-xdist, a fresh database ``<name>_<worker>`` beside the one ``url`` names."""
    if not workers.distributed():
        return url
    given = make_url(url)
    name = f"{given.database}_{workers.name()}"
    owner = create_engine(given, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with owner.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    owner.dispose()
    return given.set(database=name).render_as_string(hide_password=False)
