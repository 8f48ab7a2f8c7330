"""The embedded default database is shared by every process on its data directory and stopped by the last
live one — also when another holder died without saying goodbye."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from donatello.core.embedded_postgres import EmbeddedPostgres


def test_a_holder_that_died_does_not_keep_the_server_running_for_ever() -> None:
    data_dir = Path(tempfile.mkdtemp(prefix="donatello-embedded-", dir="/tmp")) / "postgres"
    embedded = EmbeddedPostgres(data_dir, delete_on_exit=False)
    embedded.start()
    dead = subprocess.Popen(["true"])
    dead.wait()
    handles = data_dir / ".handle_pids.json"
    handles.write_text(json.dumps([*json.loads(handles.read_text()), dead.pid]))  # as if it was kill -9'd

    embedded.stop()

    stopped = not (data_dir / "postmaster.pid").exists()
    if stopped:
        shutil.rmtree(data_dir.parent, ignore_errors=True)
    assert stopped
