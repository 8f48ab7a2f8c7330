"""Request-wide dependencies: the one transaction per request, committed at the edge."""

from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator, Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, params
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import State

from donatello.core import request_context
from donatello.core.database import read_one_snapshot, unit_of_work
from donatello.core.errors import UnsupportedMediaType
from donatello.resources import NAMES, Resources


class AppState(State):
    """``app.state`` once the lifespan has opened the ``Resources``: their names (``app.state.sealer``)
    read and write the one typed object, so a test that swaps a part (a sessionmaker bound to its
    transaction) swaps it for every dependency; other names are plain state."""

    def __init__(self, resources: Resources, others: dict[str, Any]) -> None:
        super().__init__(others)
        object.__setattr__(self, "resources", resources)

    def __getattr__(self, key: str) -> Any:
        if key in NAMES:
            return getattr(object.__getattribute__(self, "resources"), key)
        return super().__getattr__(key)

    def __setattr__(self, key: Any, value: Any) -> None:
        if key in NAMES:
            setattr(self.resources, key, value)
        else:
            super().__setattr__(key, value)


def resources_of(request: Request) -> Resources:
    """The app's ``Resources`` (typed), opened by the lifespan."""
    resources: Resources = request.app.state.resources
    return resources


#: The app's shared runtime as a dependency.
Runtime = Annotated[Resources, Depends(resources_of)]


async def _transaction(request: Request) -> AsyncIterator[AsyncSession]:
    """Open the request's transaction; commit when the endpoint returns, roll back if it raises.

    ``scope="function"`` makes the commit happen before the response is sent (FastAPI >= 0.118 would
    otherwise run it afterwards, when a failed commit can no longer change the client's 2xx). A
    ``DomainError`` with ``keeps_transaction`` (a refusal that is itself a recorded state change, such as
    revoking a stolen refresh token's family) commits and is then rendered as the client's error.
    """
    async with resources_of(request).sessionmaker() as session, unit_of_work(session):
        if getattr(request.scope.get("route"), "reads_one_snapshot", False):
            await read_one_snapshot(session)
        yield session


class SnapshotRoute(APIRoute):
    """A route whose figures combine several statements (reports): its transaction reads one snapshot,
    so a settlement committing mid-request can never make spend, holds and budget disagree."""

    reads_one_snapshot = True


DbSession = Annotated[AsyncSession, Depends(_transaction, scope="function")]


async def _device() -> dict[str, Any]:
    """What a session records about the device that opened it."""
    context = request_context.current()
    return {
        "user_agent": context.user_agent if context else None,
        "ip_address": context.ip_address if context else None,
    }


Device = Annotated[dict[str, Any], Depends(_device)]


# --- Guards every operation runs before anything else (installed app-wide in main.create_app) ---------
# Dependencies here are ``async def`` even when they do not await: FastAPI runs a plain ``def`` dependency
# in the thread pool, a hand-off that costs more than the dependency itself on every request.


def _query_names(route: Any) -> set[str]:
    """The query parameter names ``route`` declares, its dependencies' included (a walk of a few nodes)."""
    names: set[str] = set()
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        names.update(field.alias for field in dependant.query_params)
        pending.extend(dependant.dependencies)
    return names


async def _refuse_undeclared_query(request: Request) -> None:
    """A misspelled or unsupported filter is a 422, never silently ignored (which would widen or change
    what is returned)."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    unknown = sorted(set(request.query_params) - _query_names(route))
    if unknown:
        raise RequestValidationError(
            [
                {"loc": ("query", name), "msg": "No such parameter here", "type": "extra_forbidden"}
                for name in unknown
            ]
        )


#: JSON deeper than this is refused (422): nothing we store needs it, and deep documents cost recursion.
MAX_JSON_DEPTH = 32


async def _refuse_unstorable_text(request: Request) -> None:
    """PostgreSQL text and JSONB cannot hold NUL characters, UTF-8 cannot hold unpaired surrogates, and
    JSON has no NaN or Infinity: refuse them in the query, the path and a JSON body with a 422 naming the
    field, before anything reads them; likewise a body nested deeper than ``MAX_JSON_DEPTH``."""
    errors: list[dict[str, Any]] = []
    for name, value in request.query_params.multi_items():
        errors.extend([_text_error(("query", name), value)] if not storable(value) else [])
    for name, value in request.path_params.items():
        errors.extend([_text_error(("path", name), value)] if not storable(value) else [])
    if _is_json(request.headers.get("content-type", "")):
        body = await request.body()  # already read (and cached) by the route
        if body:
            try:
                document = json.loads(body)
            except (ValueError, RecursionError):
                document = None  # the route answers the decoding error itself (400 or 422)
            errors.extend(_unstorable(document))
    if errors:
        raise RequestValidationError(errors[:20])


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _text_error(loc: tuple[Any, ...], value: str) -> dict[str, Any]:
    reason = "a NUL character" if "\x00" in value else "an unpaired surrogate"
    return {"loc": loc, "msg": f"Text must not contain {reason}", "type": "string_not_storable"}


def _unstorable(document: Any) -> list[dict[str, Any]]:
    """Every string (keys included) that cannot be stored, every non-finite number, and the first place
    nested too deeply — walked without recursion."""
    errors: list[dict[str, Any]] = []
    pending: list[tuple[Any, tuple[Any, ...]]] = [(document, ("body",))]
    while pending:
        value, loc = pending.pop()
        if len(loc) > MAX_JSON_DEPTH + 1:
            msg = f"Nested deeper than {MAX_JSON_DEPTH} levels"
            return [{"loc": loc[:3], "msg": msg, "type": "too_deep"}]
        if isinstance(value, str) and not storable(value):
            errors.append(_text_error(loc, value))
        elif isinstance(value, float) and not math.isfinite(value):
            errors.append({"loc": loc, "msg": "Numbers must be finite", "type": "finite_number"})
        elif isinstance(value, list):
            pending.extend((item, (*loc, index)) for index, item in enumerate(value))
        elif isinstance(value, dict):
            for key, item in value.items():
                if not storable(key):
                    errors.append(_text_error((*loc, key), key))
                pending.append((item, (*loc, key)))
    return errors


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def other_media_type(request: Request, errors: Sequence[Any]) -> UnsupportedMediaType | None:
    """A JSON body that failed validation because it was sent as another type (curl's default
    ``application/x-www-form-urlencoded``, no header at all): a 415 saying what to send, rather than a 422
    about dictionaries. Checked when the body is validated, so 401/403 still come first."""
    field = getattr(request.scope.get("route"), "body_field", None)
    if field is None or isinstance(field.field_info, params.Form):
        return None
    if _is_json(request.headers.get("content-type", "")):
        return None
    if not any(error.get("loc", ())[:1] == ("body",) for error in errors):
        return None
    sent = request.headers.get("content-type")
    said = f"said {sent!r}" if sent else "named no type"
    return UnsupportedMediaType(
        f"Send the body as JSON with Content-Type: application/json (this request {said})"
    )


#: Installed on the application: run before every operation's own dependencies.
REQUEST_GUARDS = [Depends(_refuse_undeclared_query), Depends(_refuse_unstorable_text)]
