"""Templates: one Jinja2 environment, the filters every page shares and the navigation by role.

Money is formatted in one place (``{{ amount | aud }}``); dates in one place (``{{ instant | when }}``).
Later pages add their entries to ``NAVIGATION`` with the permission that shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context

from donatello.core.money import written
from donatello.tenancy import Permission, Principal

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: Permission | None = None  # None: everyone signed in

    def visible_to(self, principal: Principal) -> bool:
        return self.permission is None or principal.can(self.permission)


NAVIGATION: list[NavItem] = [
    NavItem("Generate", "/", Permission.GENERATIONS_CREATE),
    NavItem("Gallery", "/gallery"),
    NavItem("My usage", "/usage"),
    NavItem("My requests", "/my-requests", Permission.BUDGET_REQUESTS_CREATE),
    NavItem("Models", "/models"),
    NavItem("Budgets", "/reports", Permission.REPORTS_READ),
    NavItem("Budget requests", "/budget-requests", Permission.BUDGETS_MANAGE),
    NavItem("Exports", "/exports", Permission.EXPORTS_READ),
    NavItem("Reconciliations", "/reconciliations", Permission.RECONCILIATIONS_MANAGE),
    NavItem("Departments", "/departments", Permission.DEPARTMENTS_MANAGE),
    NavItem("People", "/people", Permission.USERS_READ),
    NavItem("Organization", "/organization", Permission.ORGANIZATION_SETTINGS),
    NavItem("Audit log", "/audit", Permission.AUDIT_READ),
    NavItem("API keys", "/api-keys", Permission.API_KEYS_OWN),
    NavItem("Webhooks", "/webhooks", Permission.WEBHOOKS_OWN),
]


def navigation(principal: Principal) -> list[NavItem]:
    return [item for item in NAVIGATION if item.visible_to(principal)]


def aud(amount: Decimal | str | int | None, exact: bool = False, currency: str = "AUD") -> str:
    """Every amount of money on every page, one way (``{{ amount | aud }}``, ``core.money.written``):
    totals to the cent (A$1,234.50); ``exact``: a price or one request's cost as it is (A$0.0531)."""
    return "—" if amount is None else written(amount, exact=exact, currency=currency)


def price(amount: Decimal | str | int | None) -> str:
    """A price or one request's cost, exact (``aud`` with ``exact``), for messages written in Python."""
    return aud(amount, exact=True)


@pass_context
def when(context: Context, instant: datetime | date | None) -> str:
    """In the viewer's organization's time zone (budget periods are in it too)."""
    viewer = context.get("viewer")
    return local_time(instant, getattr(viewer, "timezone", "UTC"))


@pass_context
def day(context: Context, instant: datetime, exclusive: bool = False) -> str:
    """The local day of an instant; ``exclusive``: the day before an exclusive end (a range's last day)."""
    viewer = context.get("viewer")
    moment = instant - timedelta(microseconds=1) if exclusive else instant
    return local_time(moment.astimezone(ZoneInfo(getattr(viewer, "timezone", "UTC"))).date(), "UTC")


def local_time(instant: datetime | date | None, timezone: str) -> str:
    if instant is None:
        return "—"
    if isinstance(instant, datetime):
        local = instant.astimezone(ZoneInfo(timezone))
        return local.strftime("%-d %b %Y, %H:%M ") + (local.tzname() or "")
    return instant.strftime("%-d %b %Y")


def duration(milliseconds: int | None) -> str:
    if milliseconds is None:
        return "—"
    return f"{milliseconds / 1000:.1f} s" if milliseconds >= 1000 else f"{milliseconds} ms"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(aud=aud, when=when, day=day, duration=duration)
    env.globals.update(permissions=Permission)  # {% if viewer.can(permissions.X) %}
    return env


ENVIRONMENT = _environment()


def render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)
