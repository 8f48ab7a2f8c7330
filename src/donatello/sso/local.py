"""Local sign-in: one click as any active user, for the embedded default only (``make run``).

Allowed only when Entra ID is not configured and the server binds to loopback (checked at start-up by
``web.security.check_local_sign_in``); every local sign-in is audited as such.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import NotFound
from donatello.models import User
from donatello.sessions import browser
from donatello.users import service as users


async def choices(session: AsyncSession) -> list[tuple[User, str]]:
    await set_platform_scope(session)
    return await users.local_sign_in_choices(session)


async def sign_in(
    session: AsyncSession, user_id: uuid.UUID, *, device: dict[str, Any], lifetimes: browser.Lifetimes
) -> browser.BrowserSession:
    await set_platform_scope(session)
    user = await users.active_user(session, user_id)
    if user is None:
        raise NotFound("user", user_id)
    await set_tenant(session, user.organization_id)
    user.last_login_at = utcnow()
    opened = await browser.open_session(
        session, user.id, user.organization_id, device=device, lifetimes=lifetimes, method="local"
    )
    await audit.record_event(
        session,
        "auth.signed_in",
        action="sign_in",
        resource=("user_session", opened.session_id),
        organization_id=user.organization_id,
        actor=audit.Actor(user.id, user.email),
        details={"method": "local", "session_kind": browser.KIND},
    )
    return opened
