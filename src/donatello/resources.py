"""The process's runtime, opened once: the database, Redis, rate limiter, image store, prompt sealer,
audit store, token signer and model credentials that the app (its lifespan, through
``dependencies.resources_of``) and the worker (each job is handed the parts it uses) share. Like ``main``
and ``worker`` this is the edge that assembles the domains, so no domain package imports it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, fields

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from donatello.audit import cosmos as audit_store
from donatello.audit.backlog import BacklogGate
from donatello.audit.cosmos import AuditStore
from donatello.auth.entra import EntraVerifier
from donatello.auth.tokens import TokenSigner, token_signer
from donatello.config import Settings
from donatello.core.database import create_engine, create_sessionmaker
from donatello.core.fallback import connect_redis
from donatello.core.runtime import database_url
from donatello.providers.credentials import ModelCredentials
from donatello.ratelimit import RateLimiter, limiter_from_settings
from donatello.sealing import PromptSealer, sealer_from_settings
from donatello.sso.entra_client import EntraSignIn
from donatello.storage import ImageStore, open_image_store
from donatello.webhooks.targets import Resolver


@dataclass
class Resources:
    """Opened by ``open_resources``, closed with it (in reverse). Mutable only so a test can swap one part
    (a sessionmaker bound to its transaction, a resolver instead of DNS)."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: Redis | None  # None: not configured (rate limits and pauses are this process's)
    rate_limiter: RateLimiter
    image_store: ImageStore
    sealer: PromptSealer
    audit_store: AuditStore | None  # None: the outbox table is the audit store
    audit_backlog: BacklogGate  # refuses new generations while the outbox is over its bound
    token_signer: TokenSigner
    entra_verifier: EntraVerifier | None  # None: Entra is not configured
    entra_sign_in: EntraSignIn | None
    # Key Vault secrets and managed-identity tokens for model calls: one Entra credential per process.
    model_credentials: ModelCredentials
    webhook_resolver: Resolver | None = None  # replaces DNS for webhook targets (tests); None: the system's


#: The attribute names ``Resources`` answers for (``dependencies.AppState`` forwards them).
NAMES = frozenset(field.name for field in fields(Resources))


@asynccontextmanager
async def open_resources(
    settings: Settings, *, engine: AsyncEngine | None = None, url: str | None = None, audit: bool = True
) -> AsyncIterator[Resources]:
    """Open everything once (``engine``: a test's own, left open; else one on ``url``, or the configured
    database); closed in reverse on exit. ``audit`` False leaves the audit store to the relay, which waits
    for an unreachable one instead of failing."""
    async with AsyncExitStack() as stack:
        if engine is None:
            url = url or stack.enter_context(database_url(settings))
            engine = create_engine(
                url, app_role=settings.database_app_role, pool_size=settings.database_pool_size
            )
            stack.push_async_callback(engine.dispose)
        store = None
        if audit and audit_store.is_configured(settings):
            store = await stack.enter_async_context(audit_store.open_store(settings))
        redis = None
        if settings.redis_url:
            redis = connect_redis(settings.redis_url)
            stack.push_async_callback(redis.aclose)
        images = await open_image_store(settings)
        stack.push_async_callback(images.close)
        sealer = sealer_from_settings(settings)
        stack.push_async_callback(sealer.aclose)
        credentials = ModelCredentials(settings)
        stack.push_async_callback(credentials.aclose)
        sessions = create_sessionmaker(engine)
        yield Resources(
            settings=settings,
            engine=engine,
            sessionmaker=sessions,
            redis=redis,
            rate_limiter=limiter_from_settings(settings, redis),
            image_store=images,
            sealer=sealer,
            audit_store=store,
            audit_backlog=BacklogGate(
                sessions, settings.audit_outbox_max_backlog, settings.audit_outbox_check_seconds
            ),
            token_signer=token_signer(settings),
            entra_verifier=EntraVerifier(settings) if settings.entra_configured else None,
            entra_sign_in=EntraSignIn(settings) if settings.entra_configured else None,
            model_credentials=credentials,
        )
