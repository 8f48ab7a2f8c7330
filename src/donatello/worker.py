"""Background runner: generation jobs, the audit outbox relay and scheduled jobs register here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

#: Jobs the worker runs, by name. The generation and audit issues add theirs.
JOBS: dict[str, Callable[[], Awaitable[None]]] = {}


def describe() -> str:
    if not JOBS:
        return "no background jobs are registered yet (generation queue and audit relay come next)"
    return "jobs: " + ", ".join(sorted(JOBS))
