"""Facts about the current request that logs and audit events carry without threading them through
every call: request id, client address and user agent (set by the request-id middleware; jobs set their
own ``job-…`` ids), then the organization and user once the principal is resolved (``identify``)."""

from __future__ import annotations

import contextvars
import uuid
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip_address: str | None = None
    user_agent: str | None = None
    organization_id: uuid.UUID | None = None
    user_id: uuid.UUID | None = None


_current: contextvars.ContextVar[RequestContext | None] = contextvars.ContextVar("request", default=None)


def current() -> RequestContext | None:
    return _current.get()


def bind(context: RequestContext) -> contextvars.Token[RequestContext | None]:
    return _current.set(context)


def unbind(token: contextvars.Token[RequestContext | None]) -> None:
    _current.reset(token)


def identify(organization_id: uuid.UUID, user_id: uuid.UUID) -> None:
    """Record who the request acts for (after authentication), for the rest of the request's log lines.
    Only ids: never a token, e-mail or name."""
    context = _current.get()
    if context is not None:
        _current.set(replace(context, organization_id=organization_id, user_id=user_id))
