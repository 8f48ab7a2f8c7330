"""Domain errors in plain words, each with what to do next (never a problem document or a trace)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from donatello.core.clock import utcnow
from donatello.core.errors import DomainError
from donatello.web.rendering import price


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
        return Explanation("Not allowed", error.detail, "Ask your organization's administrator for access.")
    if error.status in (401,):
        return Explanation("Please sign in again", error.detail, "Sign in, then try again.")
    return Explanation(error.title, error.detail, "Check the form and try again.")
