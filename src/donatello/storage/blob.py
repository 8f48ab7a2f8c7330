"""Azure Blob Storage (``azure-storage-blob`` aio): the production store, and Azurite in tests.

Read URLs are service SAS URLs signed with the account key from the connection string: read permission
only, one blob, an expiry, https only unless the account itself is plain http (Azurite). No user
delegation key, so no Entra token is needed on the request path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.storage.blob import BlobBlock, BlobSasPermissions, ContentSettings, generate_blob_sas
from azure.storage.blob.aio import BlobServiceClient

from donatello.core.clock import utcnow
from donatello.storage.errors import StoredImageMissing
from donatello.storage.names import check_name, download_disposition
from donatello.storage.store import (
    DEFAULT_READ_URL_LIFETIME,
    Tier,
    check_content_type,
    check_lifetime,
    check_tier,
)

#: The newest service version Azurite 3.35 accepts; azure-storage-blob 12.31 defaults to a
#: newer one. Production may set ``DONATELLO_BLOB_API_VERSION`` to anything the SDK supports.
DEFAULT_API_VERSION = "2025-11-05"
#: a file is uploaded in blocks of this size, one at a time: what one upload holds in memory
BLOCK_BYTES = 1024 * 1024


class BlobImageStore:
    """Images as block blobs in one container."""

    def __init__(
        self,
        service: BlobServiceClient,
        container: str,
        *,
        clock: Callable[[], datetime] = utcnow,
        block_bytes: int = BLOCK_BYTES,
    ) -> None:
        credential = service.credential
        account_key = getattr(credential, "account_key", None)
        if not account_key:
            raise ValueError("read URLs are signed with the account key: the connection string needs one")
        self._service = service
        self._container = service.get_container_client(container)
        self._account_name = str(service.account_name)
        self._account_key: str = account_key
        self._clock = clock
        self._block_bytes = block_bytes
        self._sas_protocol = "https" if service.url.startswith("https://") else "https,http"

    @classmethod
    def from_connection_string(
        cls,
        connection_string: str,
        container: str,
        *,
        api_version: str | None = DEFAULT_API_VERSION,
        clock: Callable[[], datetime] = utcnow,
        block_bytes: int = BLOCK_BYTES,
    ) -> BlobImageStore:
        """``api_version=None`` uses the SDK's default service version."""
        if api_version:
            service = BlobServiceClient.from_connection_string(connection_string, api_version=api_version)
        else:
            service = BlobServiceClient.from_connection_string(connection_string)
        return cls(service, container, clock=clock, block_bytes=block_bytes)

    @property
    def container_name(self) -> str:
        name: str = self._container.container_name
        return name

    async def ensure_container(self) -> None:
        """Create the (private) container if it is missing; called once at startup."""
        with contextlib.suppress(ResourceExistsError):
            await self._container.create_container()

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        settings = ContentSettings(content_type=check_content_type(content_type))
        await self._container.upload_blob(check_name(name), data, overwrite=True, content_settings=settings)

    async def put_file(self, name: str, source: Path, content_type: str) -> None:
        """Upload the file a block at a time (``block_bytes``: the memory one upload holds); a file no
        larger than a block goes in one request. Staged blocks stay invisible until the block list is
        committed, so a failed upload leaves the previous blob (or none), never half of one. Block ids are
        this upload's own, so two uploads of one name at once cannot mix their blocks."""
        settings = ContentSettings(content_type=check_content_type(content_type))
        blob = self._container.get_blob_client(check_name(name))
        with source.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size <= self._block_bytes:
                data = await asyncio.to_thread(handle.read)
                await blob.upload_blob(data, overwrite=True, content_settings=settings)
                return
            upload, blocks = secrets.token_hex(8), list[BlobBlock]()
            while block := await asyncio.to_thread(handle.read, self._block_bytes):
                block_id = base64.b64encode(f"{upload}-{len(blocks):06d}".encode()).decode()
                await blob.stage_block(block_id, block)
                blocks.append(BlobBlock(block_id))
            await blob.commit_block_list(blocks, content_settings=settings)

    async def get(self, name: str) -> bytes:
        try:
            download = await self._container.download_blob(check_name(name))
            data: bytes = await download.readall()
        except ResourceNotFoundError as missing:
            raise StoredImageMissing(name) from missing
        return data

    async def get_file(self, name: str, target: Path) -> None:
        try:
            download = await self._container.download_blob(check_name(name))
            with target.open("wb") as handle:
                async for chunk in download.chunks():
                    handle.write(chunk)
        except ResourceNotFoundError as missing:
            raise StoredImageMissing(name) from missing

    async def read_url(self, name: str, *, expires_in: timedelta = DEFAULT_READ_URL_LIFETIME) -> str:
        """A read-only service SAS for this one blob, expiring after ``expires_in``."""
        expiry = self._clock() + check_lifetime(expires_in)
        blob = self._container.get_blob_client(check_name(name))
        sas = generate_blob_sas(
            account_name=self._account_name,
            container_name=self.container_name,
            blob_name=name,
            account_key=self._account_key,
            permission=BlobSasPermissions(read=True),
            expiry=expiry,
            protocol=self._sas_protocol,
            content_disposition=download_disposition(name),
        )
        return f"{blob.url}?{sas}"

    async def set_tier(self, name: str, tier: Tier) -> None:
        try:
            await self._container.get_blob_client(check_name(name)).set_standard_blob_tier(check_tier(tier))
        except ResourceNotFoundError as missing:
            raise StoredImageMissing(name) from missing

    async def delete(self, name: str) -> None:
        """Delete the blob and its snapshots; a blob already gone is fine (idempotent)."""
        with contextlib.suppress(ResourceNotFoundError):
            await self._container.delete_blob(check_name(name), delete_snapshots="include")

    async def close(self) -> None:
        await self._service.close()

    async def tier_of(self, name: str) -> Tier:
        try:
            properties = await self._container.get_blob_client(check_name(name)).get_blob_properties()
        except ResourceNotFoundError as missing:
            raise StoredImageMissing(name) from missing
        return check_tier(str(properties.blob_tier))
