"""The Cosmos DB audit store: create, read and query — never replace, upsert, patch or delete.

Several documents of one partition (one user's events) are created by one transactional batch of create
operations (at most ``BATCH_LIMIT``): all of them or none, and a 409 on any means an earlier attempt
stored at least one, so the caller falls back to one create per document.

Authentication is chosen from configuration, never by trial: the account key when one is configured (the
emulator, or an account with keys), otherwise ``DefaultAzureCredential`` (managed identity in Azure).
Writes are retried with exponential back-off on throttling (429, honouring ``x-ms-retry-after-ms``),
server errors (5xx) and network errors; the SDK's own retries are switched off so one policy applies.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ServiceRequestError, ServiceResponseError
from azure.cosmos import PartitionKey, documents
from azure.cosmos import exceptions as cosmos_errors
from azure.cosmos.aio import ContainerProxy, CosmosClient
from azure.cosmos.documents import RetryOptions  # type: ignore[attr-defined]

from donatello.config import Settings

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 220_896_000  # 7 years
PARTITION_KEY = "/user_id"
BATCH_LIMIT = 100  # operations in one transactional batch (the service's limit)
# The seed's indexing policy, plus what the relay and the query API filter and sort on (organization,
# chain position, resource type) and the composite index a newest-first keyset page needs.
INDEXING_POLICY: dict[str, Any] = {
    "indexingMode": "consistent",
    "automatic": True,
    "includedPaths": [
        {"path": "/user_id/?"},
        {"path": "/timestamp/?"},
        {"path": "/event_type/?"},
        {"path": "/resource_id/?"},
        {"path": "/status/?"},
        {"path": "/organization_id/?"},
        {"path": "/resource_type/?"},
        {"path": "/chain_seq/?"},
        {"path": "/id/?"},
    ],
    "excludedPaths": [{"path": "/metadata/*"}, {"path": "/user_agent/?"}, {"path": "/*"}],
    "compositeIndexes": [
        [{"path": "/timestamp", "order": "descending"}, {"path": "/id", "order": "descending"}],
    ],
}


class AlreadyStored(Exception):
    """The document id exists (409): an earlier attempt delivered it."""


class StoreUnavailable(Exception):
    """The store kept failing (throttled, erroring or unreachable) for longer than the retry budget."""


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 0.05
    cap_seconds: float = 2.0
    budget_seconds: float = 30.0

    def delay(self, attempt: int, retry_after_ms: str | None = None) -> float:
        if retry_after_ms:
            try:
                return max(float(retry_after_ms) / 1000, 0.0)
            except ValueError:
                pass
        backoff: float = min(self.cap_seconds, self.base_seconds * 2**attempt)
        return backoff / 2 + random.uniform(0, backoff / 2)  # noqa: S311 - jitter, not security


def _conflict(exc: Exception) -> bool:
    """409: the id exists (a single create, or one create of a transactional batch)."""
    if isinstance(exc, cosmos_errors.CosmosResourceExistsError):
        return True
    return isinstance(exc, cosmos_errors.CosmosBatchOperationError) and exc.status_code == 409


def _retryable(exc: Exception) -> tuple[bool, str | None]:
    if isinstance(exc, cosmos_errors.CosmosHttpResponseError | cosmos_errors.CosmosBatchOperationError):
        status = exc.status_code or 0
        headers = getattr(exc, "headers", None) or {}
        if status == 429 or status >= 500:
            return True, headers.get("x-ms-retry-after-ms")
        return False, None
    if isinstance(exc, ServiceRequestError | ServiceResponseError | OSError | asyncio.TimeoutError):
        return True, None
    return False, None


class AuditStore:
    """One audit container. Only ``create``, ``read`` and ``query`` reach the container client."""

    def __init__(self, container: Any, retry: RetryPolicy) -> None:
        self.container = container
        self.retry = retry

    async def create(self, document: Mapping[str, Any]) -> None:
        """Store ``document`` (id = event id); raises ``AlreadyStored`` on 409."""
        await self._with_retry(lambda: self.container.create_item(body=dict(document)), write=True)

    async def create_batch(self, partition_key: str | None, documents: Sequence[Mapping[str, Any]]) -> None:
        """Store ``documents`` (one partition, at most ``BATCH_LIMIT``) in one transactional batch of
        creates; raises ``AlreadyStored`` when any id exists."""
        assert len(documents) <= BATCH_LIMIT
        operations = [("create", (dict(document),)) for document in documents]
        await self._with_retry(
            lambda: self.container.execute_item_batch(operations, partition_key=partition_key), write=True
        )

    async def read(self, event_id: str, user_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._with_retry(
            lambda: self.container.read_item(item=event_id, partition_key=user_id)
        )
        return result

    async def query(
        self, sql: str, parameters: Mapping[str, Any], *, partition_key: str | None = None
    ) -> list[dict[str, Any]]:
        """Run a query (within one partition when ``partition_key`` is given) and collect the results."""
        params = [{"name": name, "value": value} for name, value in parameters.items()]

        async def run() -> list[dict[str, Any]]:
            kwargs: dict[str, Any] = {"query": sql, "parameters": params}
            if partition_key is not None:
                kwargs["partition_key"] = partition_key
            return [item async for item in self.container.query_items(**kwargs)]

        result: list[dict[str, Any]] = await self._with_retry(run)
        return result

    async def ping(self) -> None:
        await self._with_retry(lambda: self.container.read(), budget=2.0)

    async def _with_retry(self, call: Any, *, write: bool = False, budget: float | None = None) -> Any:
        deadline = time.monotonic() + (budget if budget is not None else self.retry.budget_seconds)
        attempt = 0
        while True:
            try:
                return await call()
            except Exception as exc:
                if _conflict(exc):
                    if write:
                        raise AlreadyStored(str(exc)) from exc
                    raise
                retryable, retry_after = _retryable(exc)
                if not retryable:
                    raise
                delay = self.retry.delay(attempt, retry_after)
                if time.monotonic() + delay > deadline:
                    raise StoreUnavailable(f"audit store unavailable: {type(exc).__name__}: {exc}") from exc
                log.warning("audit store retry", extra={"attempt": attempt, "delay_s": round(delay, 3)})
                attempt += 1
                await asyncio.sleep(delay)


def chain_filter(organization_id: uuid.UUID | None) -> str:
    return "c.organization_id = @org" if organization_id else "IS_NULL(c.organization_id)"


def chain_parameters(organization_id: uuid.UUID | None) -> dict[str, Any]:
    return {"@org": str(organization_id)} if organization_id else {}


def is_configured(settings: Settings) -> bool:
    return bool(settings.cosmos_endpoint)


def _credential(settings: Settings) -> Any:
    if settings.cosmos_key is not None:
        return settings.cosmos_key.get_secret_value()
    from azure.identity.aio import DefaultAzureCredential

    return DefaultAzureCredential()


def _client(settings: Settings) -> CosmosClient:
    assert settings.cosmos_endpoint
    policy = documents.ConnectionPolicy()
    policy.RetryOptions = RetryOptions(max_retry_attempt_count=0)  # our policy retries
    policy.RequestTimeout = 10
    return CosmosClient(
        settings.cosmos_endpoint,
        credential=_credential(settings),
        connection_policy=policy,
        retry_total=0,
        retry_connect=0,
        retry_read=0,
        retry_status=0,
    )


@asynccontextmanager
async def open_store(settings: Settings) -> AsyncIterator[AuditStore]:
    """The configured audit container (it must exist: ``donatello audit init`` provisions it).

    A store that cannot be reached does not stop the process from starting (the API serves, degraded,
    and the outbox keeps the events): the client sets itself up on its first request that gets through.
    A store that answers with a refusal (a wrong key, say) does stop it."""
    client = _client(settings)
    try:
        try:
            await client.__aenter__()
        except Exception as error:
            if not _retryable(error)[0]:
                raise
            log.warning("audit store unreachable at start; events wait in the outbox", exc_info=error)
        container: ContainerProxy = client.get_database_client(settings.cosmos_database).get_container_client(
            settings.cosmos_container
        )
        yield AuditStore(container, RetryPolicy(budget_seconds=settings.audit_relay_retry_seconds))
    finally:
        await client.close()


async def provision(settings: Settings) -> str:
    """Create the database and container if missing: partition key, default TTL, indexing policy."""
    async with _client(settings) as client:
        database = await client.create_database_if_not_exists(settings.cosmos_database)
        await database.create_container_if_not_exists(
            id=settings.cosmos_container,
            partition_key=PartitionKey(path=PARTITION_KEY),
            default_ttl=DEFAULT_TTL_SECONDS,
            indexing_policy=INDEXING_POLICY,
        )
    return f"{settings.cosmos_database}/{settings.cosmos_container}"
