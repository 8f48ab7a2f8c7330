"""Which pytest-xdist worker this process is, and what it must not share with the others.

``make test`` runs the suite in several worker processes at once. The session fixtures in tests/conftest.py
give each worker its own parts (a PostgreSQL cluster, a Redis, the emulators, a working directory); these
helpers cover the cases where a part comes from outside (``DONATELLO_TEST_DATABASE_URL``, ``REDIS_URL``)
or lives at a fixed place on the machine (the unpacked Chromium, the FOCUS checker's environment).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDIS_DATABASES = 16  # a stock Redis has databases 0..15


def name() -> str:
    """``gw0``, ``gw1``, … under pytest-xdist; ``main`` in a run that is not distributed."""
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def number() -> int:
    """0 for ``gw0`` and for a run that is not distributed, 1 for ``gw1``, …"""
    found = re.fullmatch(r"gw(\d+)", name())
    return int(found.group(1)) if found else 0


def distributed() -> bool:
    return "PYTEST_XDIST_WORKER" in os.environ


def redis_url(url: str) -> str:
    """``url`` with this worker's own database number, so workers sharing one Redis never see each
    other's keys. The number given in ``url`` (default 0) is the first worker's."""
    if not distributed():
        return url
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    if parts.scheme == "unix":
        base = int(query.get("db", "0"))
        query["db"] = str((base + number()) % REDIS_DATABASES)
        return f"unix://{parts.path}?{urlencode(query)}"  # urlunsplit would drop the empty host
    base = int(parts.path.strip("/") or query.pop("db", "0"))
    path = f"/{(base + number()) % REDIS_DATABASES}"
    return urlunsplit(parts._replace(path=path, query=urlencode(query)))


@contextlib.contextmanager
def machine_lock(purpose: str) -> Iterator[None]:
    """Held by one process of the machine at a time (every worker, every checkout): for work on a path
    they all share, such as unpacking Chromium to /tmp."""
    path = Path("/tmp") / f"donatello-tests-{purpose}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
