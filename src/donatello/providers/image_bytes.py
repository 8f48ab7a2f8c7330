"""Images as the product stores them: PNG files on local disk, written while a provider's answer arrives.

An answer's image is never held in memory whole. Its bytes — decoded from base64 a piece at a time, or
downloaded — go straight into a file in the *arrivals* directory, counted and hashed on the way, and the
adapter hands on an :class:`ImageFile`. A file that arrived lives as long as its ``ImageFile``: when the
call fails, the job is abandoned or the answer has been stored, nothing refers to it any more and the file
is deleted (``generations.kept`` links the files it keeps, so those outlive it).

The worker points arrivals at its data directory (:func:`arrive_in`), on the same disk as the answers it
keeps, so keeping one is a hard link rather than a copy; anywhere else they go to the system's temporary
directory.
"""

from __future__ import annotations

import binascii
import contextlib
import hashlib
import os
import tempfile
import weakref
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from donatello.providers.errors import ProviderUnavailable

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: no image model answers with more: a larger image is refused rather than allowed to fill the disk
MAX_IMAGE_BYTES = 64 * 1024 * 1024
ARRIVING_PREFIX = ".arriving-"

_ARRIVALS: ContextVar[Path | None] = ContextVar("image_arrivals", default=None)


@dataclass(eq=False)
class ImageFile:
    """An image on local disk: where, how many bytes, and their SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str

    def read_bytes(self) -> bytes:
        """The whole image — for small reads and tests; the worker streams files instead."""
        return self.path.read_bytes()


@contextlib.contextmanager
def arriving_in(directory: Path) -> Iterator[None]:
    """Answers' images arrive in ``directory`` within this context (and the tasks it starts)."""
    token = _ARRIVALS.set(directory)
    try:
        yield
    finally:
        _ARRIVALS.reset(token)


def arrive_in(directory: Path) -> None:
    """Answers' images arrive in ``directory`` from now on in the running task's context (its own: the
    tasks it starts inherit it, no other task sees it)."""
    _ARRIVALS.set(directory)


def arrivals_directory() -> Path:
    return _ARRIVALS.get() or Path(tempfile.gettempdir())


class ImageTooLarge(Exception):
    pass


class Arrival:
    """One image being written as it arrives: ``write`` pieces, then ``finish`` or ``discard``."""

    def __init__(self) -> None:
        directory = arrivals_directory()
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        descriptor, name = tempfile.mkstemp(prefix=ARRIVING_PREFIX, suffix=".img", dir=directory)  # 0600
        self.path = Path(name)
        self._file = os.fdopen(descriptor, "wb", buffering=0)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        if self.size + len(data) > MAX_IMAGE_BYTES:
            raise ImageTooLarge
        self.size += len(data)
        self._hash.update(data)
        view = memoryview(data)
        while view:  # an unbuffered file may write less than it was given
            view = view[self._file.write(view) or 0 :]

    def finish(self) -> ImageFile:
        """The image as written; its file is deleted once nothing refers to the ``ImageFile``."""
        self._file.close()
        image = ImageFile(self.path, self.size, self._hash.hexdigest())
        weakref.finalize(image, _delete, self.path)
        return image

    def discard(self) -> None:
        self._file.close()
        _delete(self.path)


class Base64Arrival:
    """An image sent as base64 text, fed in pieces of any length and written as it is decoded.

    The text is read exactly as ``base64.b64decode(text, validate=True)`` reads it whole. Whole groups of
    four characters are decoded as they come, except the last group seen and anything from the first
    ``=`` on: padding's rules (what may follow it, whether it leads) depend on what surrounds it, so that
    end is decoded in one piece by :func:`binascii.a2b_base64` itself when the text ends.
    """

    #: after the first "=", only more padding can be valid; a long run of it is refused
    MAX_END_BYTES = 1024

    def __init__(self) -> None:
        self._arrival = Arrival()
        self._pending = b""  # starts on a group boundary: the last group and the end not yet decoded
        self._at_end = False  # an "=" has been seen
        self.error: str | None = None

    def feed(self, text: bytes) -> None:
        if self.error is not None:
            return  # already refused: the rest of the string is skipped
        data = self._pending + text
        if self._at_end:
            self._pending = data
            if len(data) > self.MAX_END_BYTES:
                self._refuse("the provider returned malformed base64 image data")
            return
        padding = data.find(b"=", len(self._pending))
        if padding >= 0:
            self._at_end = True
            cut = max(0, padding - padding % 4 - 4)
        else:
            cut = max(0, len(data) - len(data) % 4 - 4)
        self._pending = data[cut:]
        self._decode(data[:cut])

    def finish(self) -> ImageFile | str:
        """The decoded image, or why the text is not one."""
        if self.error is None:
            self._decode(self._pending)
        if self.error is not None:
            return self.error
        return self._arrival.finish()

    def discard(self) -> None:
        self._arrival.discard()

    def _decode(self, text: bytes) -> None:
        if not text:
            return
        try:
            self._arrival.write(binascii.a2b_base64(text, strict_mode=True))
        except binascii.Error:
            self._refuse("the provider returned malformed base64 image data")
        except ImageTooLarge:
            self._refuse(f"an image in the answer is larger than {MAX_IMAGE_BYTES // 2**20} MiB")

    def _refuse(self, reason: str) -> None:
        self.error = reason
        self._pending = b""
        self._arrival.discard()


def arrived(data: bytes) -> ImageFile:
    """Bytes already in memory (a locally rendered image) written as an arrival."""
    arrival = Arrival()
    try:
        arrival.write(data)
    except BaseException:
        arrival.discard()
        raise
    return arrival.finish()


def as_png(image: ImageFile) -> ImageFile:
    """PNG as it is; a JPEG or WebP answer converted into a new file (Pillow decodes it from disk).

    Blocking work: call it in a thread. A file Pillow cannot read is a retryable outage.
    """
    with image.path.open("rb") as handle:
        if handle.read(len(PNG_MAGIC)) == PNG_MAGIC:
            return image
    descriptor, name = tempfile.mkstemp(prefix=ARRIVING_PREFIX, suffix=".png", dir=arrivals_directory())
    converted = Path(name)
    try:
        with os.fdopen(descriptor, "wb") as target, Image.open(image.path) as decoded:
            decoded.save(target, format="PNG")
        with converted.open("rb") as written:
            digest = hashlib.file_digest(written, "sha256").hexdigest()
    except BaseException as failure:
        _delete(converted)
        if isinstance(failure, (OSError, ValueError, Image.DecompressionBombError)):
            raise ProviderUnavailable("the provider returned an image that cannot be read") from failure
        raise
    png = ImageFile(converted, converted.stat().st_size, digest)
    weakref.finalize(png, _delete, converted)
    return png


def _delete(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
