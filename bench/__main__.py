"""`make bench`: every benchmark against one embedded PostgreSQL, each reported as a ratio against a
baseline measured in the same run. `python -m bench NAME` runs one (api_overhead, ledger, admission, reports,
reconciliation, throughput, audit, auth_throttle, answers)."""

from __future__ import annotations

import asyncio
import importlib
import shutil
import sys
import tempfile
from pathlib import Path

from donatello.config import Settings
from donatello.core.embedded_postgres import EmbeddedPostgres
from donatello.core.migrations import upgrade

# Imported when run, so one bench that no longer imports does not stop the others.
BENCHMARKS = ["api_overhead", "ledger", "admission", "reports", "reconciliation", "throughput"]
# bring their own PostgreSQL, Cosmos or Redis, or need none (answers)
STANDALONE = {"audit": "main", "auth_throttle": "main", "answers": "main"}


def main(names: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="donatello-bench-", dir="/tmp"))
    embedded = EmbeddedPostgres(workdir / "postgres", delete_on_exit=True)
    try:
        url = embedded.start()
        upgrade(url)
        settings = Settings(_env_file=None, data_dir=workdir / "data", database_url=url)  # type: ignore[call-arg]
        for name in [n for n in names or list(BENCHMARKS) if n in BENCHMARKS]:
            print(f"\n== {name} ==")
            try:
                module = importlib.import_module(f"bench.{name}")
            except ImportError as error:  # say so and go on with the others
                print(f"bench {name} does not import: {error}")
                continue
            asyncio.run(module.run(url, settings))
    finally:
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    for name in [n for n in names or list(STANDALONE) if n in STANDALONE]:
        print(f"\n== {name} ==")
        asyncio.run(getattr(importlib.import_module(f"bench.{name}"), STANDALONE[name])())


if __name__ == "__main__":
    main(sys.argv[1:])
