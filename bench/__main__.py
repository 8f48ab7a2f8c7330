"""`make bench`: every benchmark against one embedded PostgreSQL, each reported as a ratio against a
baseline measured in the same run. `python -m bench NAME` runs one (api_overhead, ledger)."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

from bench import api_overhead, ledger
from donatello.config import Settings
from donatello.core.embedded_postgres import EmbeddedPostgres
from donatello.core.migrations import upgrade

BENCHMARKS = {"api_overhead": api_overhead.run, "ledger": ledger.run}


def main(names: list[str]) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="donatello-bench-", dir="/tmp"))
    embedded = EmbeddedPostgres(workdir / "postgres", delete_on_exit=True)
    try:
        url = embedded.start()
        upgrade(url)
        settings = Settings(_env_file=None, data_dir=workdir / "data", database_url=url)  # type: ignore[call-arg]
        for name in names or list(BENCHMARKS):
            print(f"\n== {name} ==")
            asyncio.run(BENCHMARKS[name](url, settings))
    finally:
        embedded.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main(sys.argv[1:])
