"""Templates: one Jinja2 environment, the filters every page shares and the navigation by role.

Money is formatted in one place (``{{ amount | aud }}``); dates in one place (``{{ instant | when }}``).
Later pages add their entries to a group of ``NAVIGATION`` with the permission that shows them; each
role's first page is ``landing``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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


def _in_a_department(principal: Principal) -> bool:
    return principal.department_id is not None


def _sees_images(principal: Principal) -> bool:
    return principal.can(Permission.GENERATIONS_CREATE) or principal.can(Permission.GENERATIONS_READ_OTHERS)


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    permission: Permission | None = None  # None: everyone signed in
    #: a further condition: Generate needs a department to charge (an org admin may have none)
    also: Callable[[Principal], bool] | None = None
    #: other addresses of the same page (Generate is also the home page of those who generate)
    aliases: tuple[str, ...] = ()

    def visible_to(self, principal: Principal) -> bool:
        if self.permission is not None and not principal.can(self.permission):
            return False
        return self.also is None or self.also(principal)

    def is_current(self, path: str) -> bool:
        """This entry's page, or a page under it (``/reports/<department>`` is under Budgets)."""
        return any(path == href or path.startswith(href + "/") for href in (self.href, *self.aliases))


@dataclass(frozen=True)
class NavGroup:
    """Entries that belong together; a ``menu`` group is one disclosure button (Admin ▾)."""

    label: str
    items: tuple[NavItem, ...]
    menu: bool = False

    def is_current(self, path: str) -> bool:
        return any(item.is_current(path) for item in self.items)


GENERATE = NavItem(
    "Generate", "/generate", Permission.GENERATIONS_CREATE, also=_in_a_department, aliases=("/",)
)
NAVIGATION: tuple[NavGroup, ...] = (
    NavGroup(
        "Images",
        (
            GENERATE,
            NavItem("Gallery", "/gallery", also=_sees_images),
            NavItem("My usage", "/usage", Permission.GENERATIONS_CREATE),
            NavItem("My requests", "/my-requests", Permission.BUDGET_REQUESTS_CREATE, also=_in_a_department),
        ),
    ),
    NavGroup(
        "Money",
        (
            NavItem("Budgets", "/reports", Permission.REPORTS_READ),
            NavItem("Requests", "/budget-requests", Permission.BUDGETS_MANAGE),
            NavItem("Exports", "/exports", Permission.EXPORTS_READ),
            NavItem("Reconciliations", "/reconciliations", Permission.RECONCILIATIONS_MANAGE),
        ),
    ),
    NavGroup(
        "Admin",
        (
            NavItem("Models", "/models"),
            NavItem("Departments", "/departments", Permission.DEPARTMENTS_MANAGE),
            NavItem("People", "/people", Permission.USERS_READ),
            NavItem("Organization", "/organization", Permission.ORGANIZATION_SETTINGS),
            NavItem("Audit log", "/audit", Permission.AUDIT_READ),
            NavItem("API keys", "/api-keys", Permission.API_KEYS_OWN),
            NavItem("Webhooks", "/webhooks", Permission.WEBHOOKS_OWN),
        ),
        menu=True,
    ),
)


def navigation(principal: Principal) -> list[NavGroup]:
    """The groups of entries ``principal`` can use, empty groups left out. The last group is the Admin
    menu for those who administer the organization, "More" for the rest (models, their own keys)."""
    groups = []
    for group in NAVIGATION:
        items = tuple(item for item in group.items if item.visible_to(principal))
        if not items:
            continue
        label = group.label
        if group.menu and not principal.can(Permission.DEPARTMENTS_MANAGE):
            label = "More"
        groups.append(NavGroup(label, items, menu=group.menu and len(items) > 1))  # no menu of one
    return groups


def landing(principal: Principal) -> NavItem:
    """Each role's own useful first page: staff generate; a manager sees their department's budget
    (``/reports`` goes straight to it); finance and administrators the organization's budgets overview;
    anyone else their gallery."""
    if principal.can(Permission.REPORTS_READ) and (
        principal.reaches_every_department or principal.department_id is not None
    ):
        return NavItem("Budgets", "/reports")
    if GENERATE.visible_to(principal):
        return GENERATE
    if principal.can(Permission.GENERATIONS_CREATE):
        return NavItem("Generate", "/generate")  # explains why there is no form, and what to do
    return NavItem("Models", "/models")


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


def ordinal(number: int) -> str:
    """1st, 2nd, 3rd, 4th … 11th, 12th, 13th … 21st."""
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number:,}{suffix}"


def starts_in(instant: datetime | None) -> str:
    """An estimated start in the words of someone waiting: rounded, never falsely precise."""
    if instant is None:
        return "start time unknown"
    seconds = (instant - datetime.now(UTC)).total_seconds()
    if seconds < 10:
        return "starts any moment"
    if seconds < 60:
        return f"starts in about {max(10, round(seconds / 10) * 10)} seconds"
    if seconds < 3600:
        minutes = round(seconds / 60)
        return f"starts in about {minutes} minute{'s' if minutes != 1 else ''}"
    hours = round(seconds / 3600)
    return f"starts in about {hours} hour{'s' if hours != 1 else ''}"


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(aud=aud, when=when, day=day, duration=duration, ordinal=ordinal, starts_in=starts_in)
    env.globals.update(permissions=Permission)  # {% if viewer.can(permissions.X) %}
    return env


ENVIRONMENT = _environment()


def render(template: str, **context: Any) -> str:
    return ENVIRONMENT.get_template(template).render(**context)
