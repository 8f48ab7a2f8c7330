"""Rules of the browser edge that need no web framework: return paths, origins, headers, local sign-in."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from donatello.config import Settings

SESSION_COOKIE = "donatello_session"
#: the ``__Host-`` prefix makes the browser refuse the cookie unless Secure, path=/ and host-only
SECURE_SESSION_COOKIE = "__Host-donatello_session"
FLOW_COOKIE = "donatello_web_sign_in"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
#: paths that belong to the JSON API and tooling: no HTML error pages, no page CSP there
API_PREFIXES = ("/v1/", "/docs", "/redoc", "/openapi.json", "/health", "/metrics")


def is_web_path(path: str) -> bool:
    return not any(path == prefix.rstrip("/") or path.startswith(prefix) for prefix in API_PREFIXES)


def safe_next(value: str | None) -> str:
    """A same-origin path to return to after sign-in; anything else (another site, a scheme, ``//host``,
    backslashes, control characters) becomes ``/``."""
    if not value or len(value) > 2000 or not value.startswith("/") or value.startswith(("//", "/\\")):
        return "/"
    if any(ord(char) < 0x20 or char == "\\" for char in value):
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def uses_https(settings: Settings) -> bool:
    return (settings.public_base_url or "").lower().startswith("https://")


def session_cookie_name(settings: Settings) -> str:
    return SECURE_SESSION_COOKIE if uses_https(settings) else SESSION_COOKIE


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class LocalSignInRefused(RuntimeError):
    """Local sign-in was asked for where it would let anyone in: the server must not start."""


def local_sign_in_enabled(settings: Settings) -> bool:
    """Unset: on exactly when Entra ID is not configured and the bind address is loopback. Asked for
    explicitly anywhere else, the server refuses to start."""
    allowed = not settings.entra_configured and is_loopback(settings.host)
    if settings.web_local_sign_in is None:
        return allowed
    if settings.web_local_sign_in and not allowed:
        reason = "Entra ID is configured" if settings.entra_configured else f"{settings.host} is not loopback"
        raise LocalSignInRefused(f"local sign-in is only for a loopback server without Entra ID ({reason})")
    return settings.web_local_sign_in


def origin_of(url: str) -> str | None:
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}"


def allowed_origins(settings: Settings, request_origin: str) -> set[str]:
    """This server's own origin as the request reached it, and the configured public one."""
    origins = {request_origin.lower()}
    if settings.public_base_url and (public := origin_of(settings.public_base_url)):
        origins.add(public)
    return origins


def same_origin(settings: Settings, request_origin: str, origin: str | None, referer: str | None) -> bool:
    """A state-changing request must come from one of our pages: its Origin (or, when a browser leaves
    it out, its Referer's origin) is ours. Neither present: refused."""
    claimed = origin if origin and origin != "null" else (origin_of(referer) if referer else None)
    return claimed is not None and claimed.lower() in allowed_origins(settings, request_origin)


def content_security_policy(settings: Settings) -> str:
    images = ["'self'", "data:"]
    if settings.public_base_url and (public := origin_of(settings.public_base_url)):
        images.append(public)
    else:
        images.append(f"http://{settings.host}:{settings.port}")
    if settings.blob_connection_string:
        images.append("https://*.blob.core.windows.net")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            "connect-src 'self'",
            "font-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )
