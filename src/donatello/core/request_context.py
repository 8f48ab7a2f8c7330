"""Facts about the current request that logs and audit events carry without threading them through
every call: request id, client address and user agent. Set by the request-id middleware; jobs set their
own (``job-…``) ids."""

from __future__ import annotations

import contextvars
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None = None
    user_agent: str | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def bind(context: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(context)


def unbind(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)
