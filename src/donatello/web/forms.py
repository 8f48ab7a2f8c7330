"""A form shown again after a refusal: what was typed, and each problem beside the field it concerns.

Pages call the API's own services, which refuse with the same problem details the API answers with: a
``DomainError`` whose ``field`` (or type) names what was wrong, or a schema's ``ValidationError`` whose
``errors()`` name each field. ``FormState.rejecting`` maps those API names onto the form's own field names
and keeps the typed values, so the page re-renders the form (status 422) instead of a dead end. The
``partials/forms.html`` macros lay the state out: a summary linking to each field, the message beside its
field, ``aria-invalid`` and ``aria-describedby``.

A refusal that is not the form's to fix (not signed in, not allowed, not found, rate limited) is raised
again, so it becomes the readable error page as before.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from donatello.core.errors import DomainError

#: statuses of refusals a person fixes by changing what they typed
FORM_STATUSES = frozenset({400, 409, 422})
#: a problem no single field explains (shown in the summary only)
WHOLE_FORM = ""


@dataclass
class FormState:
    """One form's typed values and its problems; ``name`` tells apart several forms on one page."""

    name: str = ""
    values: Mapping[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    status: int = 200

    def value(self, name: str, default: Any = "") -> Any:
        value = self.values.get(name)
        return default if value is None else value

    def error(self, name: str) -> str | None:
        return self.errors.get(name)

    def of(self, name: str) -> FormState:
        """This state if it is ``name``'s, else that form blank (a page with several forms)."""
        return self if self.name == name else FormState(name)

    def id_of(self, name: str) -> str:
        """The element id of a field (``add-code``), which the summary links to."""
        return "-".join(part for part in (self.name, name.replace(".", "-").replace("_", "-")) if part)

    @property
    def invalid(self) -> bool:
        return bool(self.errors)

    def focuses(self, name: str) -> bool:
        """Whether ``name`` is the first field refused: the page opens with it focused (and scrolled to),
        so the message beside it is what is read first, without any script."""
        return next((field for field in self.errors if field != WHOLE_FORM), None) == name

    @property
    def whole_form_error(self) -> str | None:
        return self.errors.get(WHOLE_FORM)

    def rejecting(
        self,
        error: Exception,
        *,
        fields: Mapping[str, str] | None = None,
        hints: Mapping[str, str] | None = None,
        types: Mapping[str, str] | None = None,
        words: Mapping[str, str | Callable[[DomainError], str]] | None = None,
    ) -> FormState:
        """This form again with ``error``'s problems beside their fields (422).

        ``fields``: the API's field name -> this form's (unlisted names are the form's own);
        ``hints``: this form's field -> what a valid value looks like (said for a schema's refusal);
        ``types``: a problem type that names no field -> the field it concerns;
        ``words``: a problem type -> the plain words to say instead of the service's detail.
        Anything else (not allowed, not found, rate limited) is raised again for the error page."""
        if isinstance(error, ValidationError):
            errors = _schema_errors(error, fields or {}, hints or {})
        elif isinstance(error, DomainError) and error.status in FORM_STATUSES:
            said = (words or {}).get(error.type, error.detail)
            message = said if isinstance(said, str) else said(error)
            errors = {_field_of(error, fields or {}, types or {}): message}
        else:
            raise error
        return FormState(self.name, self.values, errors, 422)


def _field_of(error: DomainError, fields: Mapping[str, str], types: Mapping[str, str]) -> str:
    named = error.extensions.get("field")
    if isinstance(named, str) and named:
        return fields.get(named, named)
    return types.get(error.type, WHOLE_FORM)


def _schema_errors(
    error: ValidationError, fields: Mapping[str, str], hints: Mapping[str, str]
) -> dict[str, str]:
    """Each field's first problem, in the words of ``hints`` where the form gives them."""
    found: dict[str, str] = {}
    for problem in error.errors():
        location = [str(part) for part in problem["loc"]]
        api_name = location[0] if location else WHOLE_FORM
        name = fields.get(api_name, api_name)
        found.setdefault(name, hints.get(name) or _sentence(str(problem["msg"])))
    return found


def _sentence(message: str) -> str:
    """Pydantic's "Value error, period must be …" as a sentence."""
    text = message.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    text = text[:1].upper() + text[1:]
    return text if text.endswith(".") else text + "."
