"""A real ``donatello worker --only generations`` process against the test database and data directory
(the prompt key and kept answers live there), for tests that kill it as the OS would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from donatello.config import Settings

DONATELLO = str(Path(sys.executable).with_name("donatello"))


@contextmanager
def generation_worker(
    settings: Settings, database_url: str, **overrides: str
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker process (settings as environment variables, ``overrides`` on top); stopped (SIGTERM,
    then SIGKILL) afterwards unless the test already killed it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DONATELLO_")}
    env.update(
        {
            "DONATELLO_DATABASE_URL": database_url,
            "DONATELLO_DATA_DIR": str(settings.data_dir),
            "DONATELLO_WORKER_POLL_SECONDS": "0.1",
            **{f"DONATELLO_{name.upper()}": value for name, value in overrides.items()},
        }
    )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log = tempfile.NamedTemporaryFile(prefix="donatello-worker-", suffix=".log", dir="/tmp", delete=False)  # noqa: SIM115
    process = subprocess.Popen(
        [DONATELLO, "worker", "--only", "generations"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()
