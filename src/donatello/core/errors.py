"""Errors that carry their own meaning, rendered once as RFC 9457 problem details.

Every domain error names a stable ``type`` (a URI under ``PROBLEM_BASE``), a title and an HTTP status;
extra fields become members of the problem document so clients can act on them (for example the budget
figures of a refusal).
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE = "https://donatello.ai/problems/"


class DomainError(Exception):
    status: ClassVar[int] = 400
    type: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"
    #: True when what was written before the refusal is itself a fact to keep — an audited refusal, an
    #: expired hold swept on the way — so the edge commits instead of rolling back. Such errors must be
    #: raised only after the service has written nothing else.
    keeps_transaction: ClassVar[bool] = False

    def __init__(self, detail: str | None = None, **extensions: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extensions = extensions

    def headers(self) -> dict[str, str]:
        """HTTP headers the response must carry (e.g. Retry-After on 429/503)."""
        return {}

    @classmethod
    def type_uri(cls) -> str:
        return PROBLEM_BASE + cls.type

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": self.type_uri(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class NotFound(DomainError):
    """Also what another tenant's resource looks like: its existence is never revealed."""

    status = 404
    type = "not-found"
    title = "Not found"

    def __init__(self, resource: str, resource_id: object | None = None) -> None:
        detail = f"{resource} {resource_id} was not found" if resource_id else f"{resource} was not found"
        super().__init__(detail, resource=resource)


class Unauthenticated(DomainError):
    status = 401
    type = "unauthenticated"
    title = "Authentication required"

    def headers(self) -> dict[str, str]:
        """RFC 9110 §11.6.1: a 401 names the scheme to use (a bearer token or API key)."""
        return {"WWW-Authenticate": "Bearer"}


class Forbidden(DomainError):
    status = 403
    type = "forbidden"
    title = "Not allowed"


class Conflict(DomainError):
    status = 409
    type = "conflict"
    title = "Conflict"


class UnsupportedMediaType(DomainError):
    status = 415
    type = "unsupported-media-type"
    title = "Send application/json"


class ValidationFailed(DomainError):
    status = 422
    type = "validation-failed"
    title = "The request is not valid"


class ServiceUnavailable(DomainError):
    status = 503
    type = "service-unavailable"
    title = "A dependency is unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database is restarting, failing over or unreachable: a moment's outage, not a fault of the
    request. Nothing was committed; the client may retry after a few seconds."""

    type = "database-unavailable"
    title = "The service is briefly unavailable"
    retry_after_seconds: ClassVar[int] = 2

    def __init__(self) -> None:
        super().__init__(
            f"The database did not answer; nothing was changed. Retry in {self.retry_after_seconds} s.",
            retry_after_seconds=self.retry_after_seconds,
        )

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_seconds)}


#: status -> (problem type, title) for the errors Starlette raises itself (routing, the body cap)
HTTP_PROBLEMS = {
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    413: ("body-too-large", "The body is too large"),
}


def json_decode_error(error: dict[str, Any], document: Any) -> dict[str, Any]:
    """Where and what, for a body that is not JSON: "line 1, column 16: Expecting ',' delimiter"."""
    position = error["loc"][-1] if isinstance(error["loc"][-1], int) else None
    reason = str(error.get("ctx", {}).get("error", "not valid JSON"))
    where = ""
    if position is not None:
        text = document if isinstance(document, str) else ""
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        where = f" at line {line}, column {column} (character {position})"
    return {
        "field": "body",
        "message": f"The body is not valid JSON{where}: {reason}",
        "code": "json_invalid",
    }
