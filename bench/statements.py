"""Statements per admission: the real application in-process (ASGI, no network), every SQL statement it
sends counted with a SQLAlchemy event listener — repeatable on a busy machine, unlike timings.

``count`` returns the mean over warm admissions (caches filled) and the statements of one of them.
"""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import event

from donatello.config import Settings
from donatello.core.database import create_engine
from donatello.main import create_app

BODY = {"prompt": "bench", "model": "local/pillow-sketch", "size": "256x256"}


async def count(settings: Settings, url: str, token: str, admissions: int = 20) -> tuple[float, list[str]]:
    """Mean statements per warm admission (``BEGIN``/``COMMIT`` included), and one admission's statements."""
    engine = create_engine(url, app_role=settings.database_app_role, pool_size=2)
    seen: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(" ".join(statement.split())[:160])

    def _begin(_conn: Any) -> None:
        seen.append("BEGIN")

    def _commit(_conn: Any) -> None:
        seen.append("COMMIT")

    def _checkout(*_: Any) -> None:
        # SQLAlchemy's pre-ping sends a SELECT 1 on every checkout that no statement event shows
        if engine.pool._pre_ping:
            seen.append("SELECT 1 (pool pre-ping)")

    event.listen(engine.sync_engine, "checkout", _checkout)
    event.listen(engine.sync_engine, "before_cursor_execute", _record)
    event.listen(engine.sync_engine, "begin", _begin)
    event.listen(engine.sync_engine, "commit", _commit)
    app = create_app(settings.model_copy(update={"in_process_worker": False}), engine=engine)
    headers = {"Authorization": f"Bearer {token}"}
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
                for _ in range(2):  # warm: caches filled, the pool's connection set up
                    assert (
                        await client.post("/v1/generations", json=BODY, headers=headers)
                    ).status_code == 202
                seen.clear()
                assert (await client.post("/v1/generations", json=BODY, headers=headers)).status_code == 202
                one = list(seen)
                seen.clear()
                for _ in range(admissions):
                    response = await client.post("/v1/generations", json=BODY, headers=headers)
                    assert response.status_code == 202, response.text
                total = len(seen)
    finally:
        await engine.dispose()
    return total / admissions, one
