"""API keys: ``dnt_…`` secrets shown once, stored as a SHA-256 hash with a visible prefix.

A key acts as its owner narrowed to the key's scopes; it stops working when revoked, expired, or when
its owner or organization is deactivated. Look-up is by hash, confirmed with a constant-time compare.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from donatello import audit
from donatello.api_keys import repository
from donatello.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from donatello.core.clock import utcnow
from donatello.core.database import set_platform_scope, set_tenant
from donatello.core.errors import NotFound, Unauthenticated, ValidationFailed
from donatello.core.pagination import Page, decode_time_cursor, page_of
from donatello.models import ApiKey
from donatello.tenancy import Action, Permission, Principal, ensure
from donatello.users import service as users

PREFIX = "dnt_"
VISIBLE = 12  # "dnt_" + 8 characters identify a key in listings


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def create(session: AsyncSession, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key for the caller; its scopes must be permissions the caller holds."""
    ensure(principal, Action.OWN_API_KEYS)
    beyond = [scope.value for scope in body.scopes if not principal.can(scope)]
    if beyond:
        raise ValidationFailed(
            "A key cannot carry permissions you do not have", field="scopes", scopes=beyond
        )
    if body.expires_at is not None and body.expires_at <= utcnow():
        raise ValidationFailed("expires_at must be in the future", field="expires_at")
    secret = PREFIX + secrets.token_urlsafe(32)
    key = await repository.add(
        session,
        ApiKey(
            organization_id=principal.organization_id,
            user_id=principal.user_id,
            key_name=body.name,
            key_hash=key_hash(secret),
            key_prefix=secret[:VISIBLE],
            scopes=sorted({scope.value for scope in body.scopes}),
            expires_at=body.expires_at,
        ),
    )
    await audit.record_event(
        session,
        "api_key.created",
        resource=("api_key", key.id),
        organization_id=key.organization_id,
        actor=principal,
        details=_details(key),
    )
    return ApiKeyCreated.model_validate({**ApiKeyRead.model_validate(key).model_dump(), "key": secret})


async def list_keys(
    session: AsyncSession, principal: Principal, user_id: uuid.UUID | None, cursor: str | None, limit: int
) -> Page[ApiKeyRead]:
    """Own keys; an org admin may list anyone's in their organization (``user_id``). Newest first."""
    if not principal.can(Permission.API_KEYS_MANAGE):
        user_id = principal.user_id
    rows = await repository.listing(session, principal, user_id, decode_time_cursor(cursor), limit + 1)
    kept, next_cursor = page_of(rows, limit, key=lambda row: [row.created_at.isoformat(), row.id])
    return Page[ApiKeyRead](items=[ApiKeyRead.model_validate(key) for key in kept], next_cursor=next_cursor)


async def revoke(session: AsyncSession, principal: Principal, key_id: uuid.UUID) -> ApiKey:
    """Revoke one's own key (an org admin: any key of the organization); others' keys are not found."""
    ensure(principal, Action.SEE_API_KEYS)
    key = await repository.get(session, principal, key_id)
    if key is None or (key.user_id != principal.user_id and not principal.can(Permission.API_KEYS_MANAGE)):
        raise NotFound("api key", key_id)
    if key.is_active:
        key.is_active, key.revoked_at = False, utcnow()
        await repository.flush(session)
        await audit.record_event(
            session,
            "api_key.revoked",
            resource=("api_key", key.id),
            organization_id=key.organization_id,
            actor=principal,
            details=_details(key),
        )
    return key


async def authenticate(session: AsyncSession, secret: str) -> Principal:
    """The principal a presented key acts as; any failure is the same 401 (nothing about why leaks)."""
    invalid = Unauthenticated("The API key is not valid")
    await set_platform_scope(session)  # the key alone says which tenant it belongs to
    presented = key_hash(secret)
    key = await repository.by_hash(session, presented)
    if key is None or not hmac.compare_digest(key.key_hash, presented):
        raise invalid
    now = utcnow()
    if not key.is_active or (key.expires_at is not None and key.expires_at <= now):
        raise invalid
    await set_tenant(session, key.organization_id)
    principal = await users.principal_for(
        session, key.user_id, key.organization_id, api_key_id=key.id, scopes=frozenset(key.scopes)
    )
    await repository.touch(session, key.id, now)
    return principal


def _details(key: ApiKey) -> dict[str, Any]:
    return {"prefix": key.key_prefix, "scopes": key.scopes, "owner_id": str(key.user_id)}
