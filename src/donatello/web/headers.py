"""Security headers on every response: pages get the CSP; everything gets frame, sniffing, referrer and
(over https) HSTS headers. A plain ASGI middleware, so it covers error pages and static files too."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from donatello.config import Settings
from donatello.web.security import content_security_policy, is_web_path, uses_https

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    def __init__(self, app: App, settings: Settings) -> None:
        self.app = app
        common = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
        ]
        if uses_https(settings):
            common.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
        self._common = common
        self._page = [
            (b"content-security-policy", content_security_policy(settings).encode()),
            (b"cross-origin-opener-policy", b"same-origin"),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = self._common + (self._page if is_web_path(scope.get("path", "")) else [])

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.extend((name, value) for name, value in extra if name not in present)
            await send(message)

        await self.app(scope, receive, with_headers)
