"""`donatello serve --workers N`: N server processes sharing one listening socket, and the background jobs
once, in a process of their own.

uvicorn's multi-process supervisor binds the socket in this (the parent) process and spawns the servers;
it restarts a server that dies and, on SIGINT/SIGTERM, stops them all and returns. The servers build the
app from the environment (``donatello.main:app_from_environment``), which the parent points at the one
database it prepared — the embedded PostgreSQL it started, migrated and seeded once, and stops last —
with their in-process worker switched off. The jobs (generation queue, audit relay, schedules) run once,
in a spawned job process that the parent restarts if it dies, and stops after the servers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import multiprocessing
import os
import shutil
import tempfile
import threading
from multiprocessing.process import BaseProcess
from pathlib import Path

from donatello.config import Settings, get_settings
from donatello.core import logging as app_logging

log = logging.getLogger("donatello.cli")
JOB_RESTART_SECONDS = 2.0
JOB_STOP_SECONDS = 30.0


def available_cores() -> int:
    """The cores this process may use: the machine's, narrowed by CPU affinity and by a cgroup v2 CPU
    quota (a container limited to 2 CPUs on a 64-core host serves with 2 processes, not 64)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
        if quota != "max":
            cores = min(cores, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cores)


def serve_processes(settings: Settings, workers: int) -> None:
    """Run ``workers`` servers (and the jobs when ``settings.in_process_worker``) until SIGINT/SIGTERM."""
    import uvicorn

    assert settings.database_url, "the database is prepared before the servers start"
    # Every process's metrics in one directory, so a scrape of any server reports all of them.
    metrics_dir = tempfile.mkdtemp(prefix="donatello-metrics-")
    os.environ.update(
        PROMETHEUS_MULTIPROC_DIR=metrics_dir,
        DONATELLO_DATABASE_URL=settings.database_url,
        DONATELLO_IN_PROCESS_WORKER="false",
        DONATELLO_HOST=settings.host,
        DONATELLO_PORT=str(settings.port),
        DONATELLO_LOG_LEVEL=settings.log_level,
    )
    jobs = _JobProcess() if settings.in_process_worker else None
    try:
        if jobs:
            jobs.start()
        uvicorn.run(
            "donatello.main:app_from_environment",
            factory=True,
            workers=workers,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            # A server process that does not answer uvicorn's ping in time is killed and replaced; a fresh
            # one on a busy machine can take longer than the default 5 s just to import the app.
            timeout_worker_healthcheck=30,
        )
    finally:
        if jobs:
            jobs.stop()
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _JobProcess:
    """The background jobs in one spawned process, restarted while serving if it dies."""

    def __init__(self) -> None:
        self.context = multiprocessing.get_context("spawn")
        self.process: BaseProcess | None = None
        self.stopping = threading.Event()
        self.watcher = threading.Thread(target=self._watch, name="job-process-watcher", daemon=True)

    def start(self) -> None:
        self._spawn()
        self.watcher.start()

    def _spawn(self) -> None:
        self.process = self.context.Process(target=run_jobs, name="donatello-jobs")
        self.process.start()
        log.info("background jobs started", extra={"pid": self.process.pid})

    def _watch(self) -> None:
        while not self.stopping.wait(0.5):
            if self.process is not None and not self.process.is_alive():
                log.error(
                    "the background job process exited; restarting it", extra={"code": self.process.exitcode}
                )
                if self.stopping.wait(JOB_RESTART_SECONDS):
                    return
                self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        self.watcher.join(timeout=5)
        process = self.process
        if process is None or not process.is_alive():
            return
        process.terminate()  # SIGTERM: the worker finishes its current step and stops its jobs
        process.join(JOB_STOP_SECONDS)
        if process.is_alive():
            log.error("the background job process did not stop in time; killing it")
            process.kill()
            process.join()


def run_jobs() -> None:
    """The job process: every background job on the database the parent prepared (from the environment)."""
    from donatello import worker as background

    settings = get_settings()
    app_logging.configure(settings.log_level)
    assert settings.database_url
    asyncio.run(background.run(settings, settings.database_url))
