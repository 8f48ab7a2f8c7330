"""What the fuzzers share: a tally of what they sent and found, and a database of their own that a live
server commits to for real."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
from psycopg.conninfo import make_conninfo
from sqlalchemy.engine import make_url

from donatello.core import migrations


@dataclass
class Tally:
    operations: int = 0
    requests: int = 0
    failures: dict[str, str] = field(default_factory=dict)  # one per operation and failure kind
    statuses: Counter[int] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def fuzz_database(postgres_url: str) -> Iterator[str]:
    """A database of its own on the test server, migrated: the live server commits for real."""
    url = make_url(postgres_url)
    name = f"fuzz_{uuid.uuid4().hex[:8]}"
    host = url.query.get("host") or url.host
    assert not isinstance(host, tuple), "the test server listens on one host"
    admin = make_conninfo(  # a None parameter is left out
        host=host, port=url.port or None, user=url.username, password=url.password or None, dbname="postgres"
    )
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    fuzz_url = url.set(database=name).render_as_string(hide_password=False)
    migrations.upgrade(fuzz_url)
    try:
        yield fuzz_url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
