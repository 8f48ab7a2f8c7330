"""Domain errors in plain words, each with what to do next (never a problem document or a trace)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from donatello.core.clock import utcnow
from donatello.core.errors import DomainError
from donatello.tenancy import GRANTS, Permission, Role
from donatello.web.rendering import price

#: what each permission lets a person do, in their words (403 pages, API-key scopes)
ABILITIES: dict[Permission, str] = {
    Permission.ORGANIZATIONS_MANAGE: "manage organizations",
    Permission.ORGANIZATION_SETTINGS: "change the organization's settings",
    Permission.PROVIDERS_MANAGE: "change models and their prices",
    Permission.PROVIDERS_READ_CONFIG: "see paused models and how models are configured",
    Permission.DEPARTMENTS_MANAGE: "add and change departments",
    Permission.USERS_MANAGE: "change people's roles, departments and access",
    Permission.USERS_READ: "see the people list",
    Permission.BUDGETS_MANAGE: "set budgets and decide requests for more",
    Permission.BUDGET_ALERTS_MANAGE: "change budget alerts and per-person caps",
    Permission.BUDGET_REQUESTS_CREATE: "ask for more budget",
    Permission.API_KEYS_MANAGE: "manage everyone's API keys",
    Permission.API_KEYS_OWN: "create and revoke their own API keys",
    Permission.AUDIT_READ: "read the audit log",
    Permission.REPORTS_READ: "read budget reports",
    Permission.EXPORTS_READ: "export costs",
    Permission.RECONCILIATIONS_MANAGE: "reconcile provider bills",
    Permission.GENERATIONS_READ_OTHERS: "see other people's images",
    Permission.GENERATIONS_MANAGE_OTHERS: "cancel and delete other people's images",
    Permission.GENERATIONS_CREATE: "generate images",
    Permission.GENERATIONS_BATCH: "send batches of generations",
    Permission.GENERATIONS_HD: "generate HD and high-quality images",
    Permission.WEBHOOKS_MANAGE: "manage the organization's webhooks",
    Permission.WEBHOOKS_OWN: "register their own webhooks",
}
ROLE_NAMES: dict[Role, str] = {
    Role.STANDARD_USER: "staff",
    Role.POWER_USER: "power users",
    Role.DEPT_MANAGER: "department managers",
    Role.FINANCE: "finance",
    Role.ORG_ADMIN: "organization admins",
    Role.SUPER_ADMIN: "platform admins",
}


def scope_label(permission: Permission) -> str:
    """An API key's scope as a person reads it: "Read budget reports"."""
    ability = ABILITIES[permission].replace("their own", "your own")
    return ability[:1].upper() + ability[1:]


def needs(*permissions: Permission) -> str:
    """Who may do what a page does: "Only finance, department managers and organization admins can read
    budget reports." (platform admins may do everything, so they are named only when alone); any one of
    several permissions: "… can generate images or see other people's images."."""
    roles = [role for role in Role if set(permissions) & GRANTS[role]]
    named = [ROLE_NAMES[role] for role in roles if role is not Role.SUPER_ADMIN] or [
        ROLE_NAMES[Role.SUPER_ADMIN]
    ]
    who = named[0] if len(named) == 1 else f"{', '.join(named[:-1])} and {named[-1]}"
    return f"Only {who} can {' or '.join(ABILITIES[permission] for permission in permissions)}."


@dataclass(frozen=True)
class Explanation:
    title: str
    message: str
    next_step: str


def _money(error: DomainError, key: str) -> str:
    value = error.extensions.get(key)
    # Exact: "A$0.05 left, needs A$0.05" would not explain a refusal (0.0451 left, 0.0531 needed).
    return price(Decimal(str(value))) if value is not None else "—"


def explain(error: DomainError) -> Explanation:
    kind = error.type
    if kind == "budget-exceeded":
        return Explanation(
            "Not enough budget left",
            f"{error.extensions.get('department', 'Your department')} has {_money(error, 'available_aud')} "
            f"left this month; this request needs {_money(error, 'quote_aud')}.",
            "Ask for fewer images, a smaller size, standard quality or a cheaper model — or ask for more: "
            "your organization's admins decide, and the answer appears in My requests.",
        )
    if kind == "user-cap-exceeded":
        cap, used = (Decimal(str(error.extensions.get(key, "0"))) for key in ("cap_aud", "used_aud"))
        left = max(cap - used, Decimal(0))
        return Explanation(
            "Your monthly cap is reached"
            if left <= 0
            else f"Your monthly cap has {price(left)} left, less than this request needs",
            f"Your cap in {error.extensions.get('department', 'your department')} is {price(cap)} this month "
            f"and {price(used)} of it is used or held, so {price(left)} is left; this request needs "
            f"{_money(error, 'quote_aud')}.",
            "Ask for fewer or cheaper images, or ask for more: your organization's admins decide, and "
            "the answer appears in My requests.",
        )
    if kind == "rate-limited":
        wait = int(error.extensions.get("retry_after_seconds") or 1)
        at = (utcnow() + timedelta(seconds=wait)).strftime("%H:%M:%S UTC")
        return Explanation(
            "Too many images for now",
            error.detail.split(";")[0] + ".",
            f"Try again in {wait} second{'s' if wait != 1 else ''} (after {at}).",
        )
    if kind == "mfa-required":
        return Explanation(
            "Multi-factor authentication is required",
            "Your organization requires multi-factor authentication (MFA) before you can generate images, "
            "and your grace period has ended.",
            "Set up MFA for your work account (Microsoft Authenticator or a phone number at "
            "https://aka.ms/mfasetup), then sign out and sign in again.",
        )
    if kind == "no-department":
        return Explanation(
            "You are not in a department yet",
            "Generations are charged to a department's budget, and your account has none.",
            "Ask your organization's administrator to add you to a department.",
        )
    if kind == "budget-not-configured":
        return no_budget(None)
    if kind in {"not-found"}:
        return Explanation(
            "Page not found",
            "There is nothing here, or it is not yours to see.",
            "Use the menu to find your way, or go back to your home page.",
        )
    if kind == "cross-site-request":
        return Explanation(
            "Not allowed",
            error.detail,
            "If you meant to do this, open DonatelloAI yourself and use its own page.",
        )
    if error.status == 403:
        required = error.extensions.get("required_permissions")
        return Explanation(
            "Not allowed",
            needs(*(Permission(value) for value in required)) if required else error.detail,
            "If your work needs it, ask your organization's administrator to change your role.",
        )
    if error.status in (401,):
        return Explanation("Please sign in again", error.detail, "Sign in, then try again.")
    return Explanation(
        error.title, error.detail, "Go back, change what the message names, and send it again."
    )


def delivery_failure(error: str | None, status_code: int | None) -> str:
    """A failed webhook delivery in a sentence; the technical detail is shown folded beside it."""
    text = error or ""
    if status_code is not None and status_code >= 400:
        return f"The address answered with an error (HTTP {status_code})."
    if text.startswith("refused:"):
        return "The address may not be used: it does not resolve, or it points into a private network."
    if text == "timed out" or "Timeout" in text.split(":")[0]:
        return "The address did not answer in time."
    if "SSL" in text or "certificate" in text.lower():
        return "The address's HTTPS certificate was not accepted."
    if text.startswith(("ConnectError", "RemoteProtocolError", "ReadError", "WriteError")):
        return "The address could not be reached."
    if text.startswith("internal error"):
        return "The delivery could not be sent because of a fault on our side; it is tried again."
    return "The delivery did not succeed."


def unresolvable_target(error: DomainError) -> str:
    """A webhook address refused before anything was sent, in words (the API says the same tersely)."""
    if error.detail.endswith("does not resolve"):
        host = error.detail.removesuffix(" does not resolve")
        return f"No server could be found at {host}: check the address for typing mistakes."
    if error.extensions.get("reason"):
        pointing = error.detail.replace("resolves to", "points to")
        return f"{pointing}, which webhooks may not reach: use a public address."
    return "Give a full https:// address with a host name."


def no_budget(department: str | None) -> Explanation:
    """A department without a budget this month: nothing can be charged to it until an admin sets one."""
    name = department or "Your department"
    return Explanation(
        f"{name} has no budget this month",
        f"Images are charged to {name}'s monthly budget, and none is set, so nothing can be generated yet.",
        f"Ask your organization's admins to set a budget for {name}; then generate again.",
    )
