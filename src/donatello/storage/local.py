"""The embedded default: images as files in a private directory, read through signed links.

Layout under ``root`` (0700): the image at ``<name>``, its content type and tier at ``.meta/<name>.json``.
Valid names never start a segment with a dot (:func:`check_name`), so ``.meta`` and the ``.<name>.*.tmp``
files of in-flight writes can never collide with an image. Every write goes to a temporary file in the
target directory and is renamed into place, so a reader sees the old file or the new one, never half.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from donatello.core.clock import utcnow
from donatello.storage.errors import StoredImageMissing
from donatello.storage.names import check_name
from donatello.storage.signing import FileLinkSigner
from donatello.storage.store import (
    DEFAULT_READ_URL_LIFETIME,
    Tier,
    check_content_type,
    check_lifetime,
    check_tier,
)

#: Where the API serves signed links (``storage.endpoints`` mounted under ``/v1``).
FILES_PATH = "/v1/files/"
FALLBACK_CONTENT_TYPE = "application/octet-stream"
#: a file is copied into place in pieces of this size: what one copy holds in memory
COPY_BYTES = 256 * 1024
_META = ".meta"


@dataclass(frozen=True, slots=True)
class SignedImage:
    """What a valid link resolves to: the file (served streamed — an export may be gigabytes), its
    content type and when the link stops working."""

    name: str
    path: Path
    content_type: str
    expires_at: datetime


class LocalImageStore:
    """Files under ``root``; ``read_url`` returns ``<public_base_url>/v1/files/<signed token>``."""

    def __init__(
        self,
        root: Path,
        *,
        signer: FileLinkSigner,
        public_base_url: str,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.root = root
        self._signer = signer
        self._base_url = public_base_url.rstrip("/")
        self._clock = clock
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        root.chmod(0o700)
        self._root = root.resolve()

    async def put(self, name: str, data: bytes, content_type: str) -> None:
        """Write the image, then its metadata; each atomically."""
        path, meta = self._paths(name)
        meta_doc = json.dumps({"content_type": check_content_type(content_type), "tier": "Hot"}).encode()
        await asyncio.to_thread(_write_atomically, path, data)
        await asyncio.to_thread(_write_atomically, meta, meta_doc)

    async def put_file(self, name: str, source: Path, content_type: str) -> None:
        """Copy the file into place (a temporary file renamed over the target), then its metadata."""
        path, meta = self._paths(name)
        meta_doc = json.dumps({"content_type": check_content_type(content_type), "tier": "Hot"}).encode()
        await asyncio.to_thread(_copy_atomically, source, path)
        await asyncio.to_thread(_write_atomically, meta, meta_doc)

    async def get(self, name: str) -> bytes:
        path, _ = self._paths(name)
        try:
            return await asyncio.to_thread(path.read_bytes)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as missing:
            raise StoredImageMissing(name) from missing

    async def get_file(self, name: str, target: Path) -> None:
        path, _ = self._paths(name)
        try:
            await asyncio.to_thread(_copy_atomically, path, target)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as missing:
            raise StoredImageMissing(name) from missing

    async def read_url(self, name: str, *, expires_in: timedelta = DEFAULT_READ_URL_LIFETIME) -> str:
        """A signed link valid for ``expires_in``; the image need not exist yet (as with a SAS URL)."""
        expires_at = self._clock() + check_lifetime(expires_in)
        return f"{self._base_url}{FILES_PATH}{self._signer.sign(check_name(name), expires_at)}"

    async def set_tier(self, name: str, tier: Tier) -> None:
        """Only recorded: a local disk has one tier, but retention's bookkeeping behaves as on Blob."""
        tier = check_tier(tier)
        path, meta = self._paths(name)
        metadata = await asyncio.to_thread(_read_metadata, meta)
        if not await asyncio.to_thread(path.is_file):
            raise StoredImageMissing(name)
        metadata["tier"] = tier
        await asyncio.to_thread(_write_atomically, meta, json.dumps(metadata).encode())

    async def delete(self, name: str) -> None:
        """Remove the image and its metadata; absent files are fine (idempotent)."""
        path, meta = self._paths(name)
        for target in (path, meta):
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                await asyncio.to_thread(target.unlink)

    async def close(self) -> None:
        """Nothing is held open between calls."""

    async def tier_of(self, name: str) -> Tier:
        path, meta = self._paths(name)
        if not await asyncio.to_thread(path.is_file):
            raise StoredImageMissing(name)
        return check_tier(str((await asyncio.to_thread(_read_metadata, meta)).get("tier", "Hot")))

    async def content_type_of(self, name: str) -> str:
        _, meta = self._paths(name)
        return str((await asyncio.to_thread(_read_metadata, meta)).get("content_type", FALLBACK_CONTENT_TYPE))

    async def open_signed(self, token: str) -> SignedImage:
        """Resolve a read link: valid signature, not expired, image present — else ``StoredImageMissing``."""
        name, expires_at = self._signer.verify(token, self._clock())
        path, _ = self._paths(name)
        if not await asyncio.to_thread(path.is_file):
            raise StoredImageMissing(name)
        return SignedImage(name, path, await self.content_type_of(name), expires_at)

    def _paths(self, name: str) -> tuple[Path, Path]:
        """The image's path and its metadata's; both provably inside ``root``."""
        name = check_name(name)
        path = (self._root / name).resolve()
        meta = (self._root / _META / f"{name}.json").resolve()
        # check_name already rules out "..", absolute paths and odd separators; this is the second wall
        # (a symlink planted inside the directory would be caught here too).
        if not (path.is_relative_to(self._root) and meta.is_relative_to(self._root / _META)):
            raise StoredImageMissing(name)
        return path, meta


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _copy_atomically(source: Path, path: Path) -> None:
    """``source`` copied in chunks to a temporary file beside ``path``, synced, then renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle, source.open("rb") as reader:
            shutil.copyfileobj(reader, handle, COPY_BYTES)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        raise


def _read_metadata(meta: Path) -> dict[str, object]:
    try:
        loaded = json.loads(meta.read_bytes())
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return {}
    return loaded if isinstance(loaded, dict) else {}
