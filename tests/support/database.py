"""The tests' PostgreSQL: the role the application acts as, a database of each pytest-xdist worker's own
when the suite runs against a server it was given (``DONATELLO_TEST_DATABASE_URL``), and the settings of
the throwaway cluster the suite starts itself."""

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


#: A test cluster lives for one run and is deleted after it: nothing in it has to survive a crash of the
#: machine, so it skips the flushes that guarantee that. What a test can observe is unchanged (commits,
#: isolation, locks, visibility between connections; a killed client or server process loses nothing the
#: OS already has). Stopping a cluster no longer waits for a flushed checkpoint (about 1.5 s of a worker's
#: end on the two-core machine, 0.1 s without), and committing tests no longer wait on the disk.
THROWAWAY_CLUSTER = {"fsync": "off", "full_page_writes": "off", "synchronous_commit": "off"}


def throwaway(url: str) -> None:
    """Apply ``THROWAWAY_CLUSTER`` to the cluster behind ``url`` (a superuser's URL); never use this on a
    server that holds anything worth keeping."""
    owner = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    with owner.connect() as connection:
        for name, value in THROWAWAY_CLUSTER.items():
            connection.exec_driver_sql(f"ALTER SYSTEM SET {name} = {value}")
        connection.exec_driver_sql("SELECT pg_reload_conf()")
    owner.dispose()
