"""Prompt KEKs in local files: the embedded default.

Layout under ``<key_dir>/prompt-keks`` (directory 0700):

* ``local-0001.kek``, ``local-0002.kek``, … — 32 random bytes each, mode 0600, never rewritten or removed,
  so every envelope ever sealed here keeps opening;
* ``active`` — the id of the KEK new seals use.

Every file is created complete or not at all: written to a private temporary file opened with
O_CREAT|O_EXCL and mode 0600, then hard-linked into place, which fails if the name exists. Two processes
starting together on a fresh directory therefore both end up on the same first KEK, and a reader never sees a
half-written key. Rotation writes the next numbered KEK the same way and then swaps the pointer atomically.
The pointer is re-read on every seal, so a ``donatello keys rotate-prompt-key`` beside a running server takes
effect at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
from pathlib import Path

from donatello.sealing.errors import KeyUnavailable
from donatello.sealing.keyring import KEK_BYTES, Kek

DIRECTORY = "prompt-keks"
POINTER = "active"
_KEY_FILE = re.compile(r"local-(\d{4,})\.kek")


def local_key_id(number: int) -> str:
    return f"local-{number:04d}"


class LocalKeyRing:
    """KEKs kept as 0600 files beside the application's other local keys."""

    def __init__(self, key_dir: Path) -> None:
        self.directory = key_dir / DIRECTORY
        self._material: dict[str, bytes] = {}  # key files are immutable, so caching by id is always right

    async def active(self) -> Kek:
        # Once its key is in memory, the pointer (a few bytes in a local file) is read right here: a
        # thread hand-off on every admission cost more than the read, and rotation still applies at once.
        if self._material:
            with contextlib.suppress(FileNotFoundError):
                key_id = self._read_pointer()
                if (material := self._material.get(key_id)) is not None:
                    return Kek(key_id, material)
        return await asyncio.to_thread(self._active)

    async def get(self, key_id: str) -> Kek:
        if (material := self._material.get(key_id)) is not None:
            return Kek(key_id, material)
        return await asyncio.to_thread(self._load, key_id)

    async def rotate(self) -> str:
        """Create a new KEK and make it active; returns its id. Earlier KEKs stay and keep opening."""
        return await asyncio.to_thread(self._rotate)

    async def aclose(self) -> None:
        return None

    def _active(self) -> Kek:
        try:
            key_id = self._read_pointer()
        except FileNotFoundError:
            key_id = self._initialise()
        return self._load(key_id)

    def _initialise(self) -> str:
        self.directory.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.directory.mkdir(exist_ok=True, mode=0o700)
        numbers = self._numbers()
        first = local_key_id(max(numbers)) if numbers else local_key_id(1)
        if not numbers:
            _create_once(self._path(first), secrets.token_bytes(KEK_BYTES))
        _create_once(self.directory / POINTER, f"{first}\n".encode())
        return self._read_pointer()

    def _rotate(self) -> str:
        self._active()  # a rotation on a fresh directory first creates the initial KEK
        new = local_key_id(max(self._numbers()) + 1)
        _create_once(self._path(new), secrets.token_bytes(KEK_BYTES))
        _replace(self.directory / POINTER, f"{new}\n".encode())
        return new

    def _read_pointer(self) -> str:
        key_id = (self.directory / POINTER).read_text().strip()
        if _KEY_FILE.fullmatch(f"{key_id}.kek") is None:
            raise KeyUnavailable("malformed", key_id, f"{self.directory / POINTER} names no local KEK")
        return key_id

    def _load(self, key_id: str) -> Kek:
        if (material := self._material.get(key_id)) is not None:
            return Kek(key_id, material)
        if _KEY_FILE.fullmatch(f"{key_id}.kek") is None:
            raise KeyUnavailable("not-found", key_id, "not a local KEK id")
        try:
            material = self._path(key_id).read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable("not-found", key_id, f"no KEK file in {self.directory}") from None
        if len(material) != KEK_BYTES:
            raise KeyUnavailable("malformed", key_id, f"{self._path(key_id)} does not hold a 256-bit key")
        self._material[key_id] = material
        return Kek(key_id, material)

    def _numbers(self) -> list[int]:
        return [
            int(match.group(1))
            for entry in os.listdir(self.directory)
            if (match := _KEY_FILE.fullmatch(entry)) is not None
        ]

    def _path(self, key_id: str) -> Path:
        return self.directory / f"{key_id}.kek"


def _write_private(directory: Path, content: bytes) -> Path:
    """A new 0600 file with ``content``, under a name nobody else can have chosen."""
    temporary = directory / f".tmp-{secrets.token_hex(8)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    return temporary


def _create_once(path: Path, content: bytes) -> bool:
    """Create ``path`` holding ``content`` unless it exists; True if this call created it."""
    temporary = _write_private(path.parent, content)
    try:
        os.link(temporary, path)  # atomic and never overwrites: the first creator wins
    except FileExistsError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return True


def _replace(path: Path, content: bytes) -> None:
    temporary = _write_private(path.parent, content)
    os.replace(temporary, path)
