"""A JSON answer read as it arrives: base64 images decoded into files on the way, the rest parsed at the end.

A provider's answer is a few kilobytes of JSON around megabytes of base64 text. The reader follows the JSON
structure just far enough to know, for every string, whether it is an object's key and which key it sits
under (an array's items sit under the array's key). A string value under one of the *image keys*
(``b64_json``; Vertex's ``data``; Bedrock's ``images``) never enters memory: it is decoded four characters
at a time into an :class:`~donatello.providers.image_bytes.Base64Arrival`, and the JSON keeps a marker in
its place. Everything else is kept as the text it was and parsed with :func:`json.loads` once the body has
ended, so usage, safety results and revised prompts read exactly as from a body parsed whole.

Streaming JSON libraries (ijson, json-stream) hand a string value over only once it is complete, which is
the megabytes this reader exists not to hold; hence this small scanner. It does not validate: the kept text
goes through ``json.loads``, which refuses what is not JSON.
"""

from __future__ import annotations

import json
import re
import secrets
from typing import Any

from donatello.providers.image_bytes import Base64Arrival, ImageFile

#: the JSON around the images (usage, safety results, revised prompt) is small; more is not an answer
MAX_TEXT_BYTES = 1024 * 1024
#: answers nest a few levels deep; a body nested deeper is not one (and would exhaust the parser's stack)
MAX_DEPTH = 64
_STRUCTURE = re.compile(rb"[{}\[\]:,]")
_ESCAPES = {
    b'"': b'"',
    b"\\": b"\\",
    b"/": b"/",
    b"b": b"\b",
    b"f": b"\f",
    b"n": b"\n",
    b"r": b"\r",
    b"t": b"\t",
}


class NotAnAnswer(ValueError):
    """The body is not JSON (or its text around the images is larger than ``MAX_TEXT_BYTES``)."""


class AnswerReader:
    """Feed the body's bytes in pieces as they arrive; ``finish`` parses what was kept.

    ``images`` maps each marker left in the JSON to the image its string decoded to, or to the reason it is
    not one (malformed base64, too large) — reported only when the adapter asks for that image, in the
    order it reads the answer, as a body parsed whole would be.
    """

    def __init__(self, image_keys: frozenset[str]) -> None:
        self.image_keys = image_keys
        self.images: dict[str, ImageFile | str] = {}
        self._text = bytearray()
        self._nonce = secrets.token_hex(8)
        # the open containers: ("{", key of the member being read) or ("[", key the array sits under)
        self._stack: list[list[Any]] = []
        self._expect_key = False
        self._in_string = False
        self._string_is_key = False
        self._key = bytearray()
        self._escape = bytearray()  # an escape split between pieces: "\" and what has come of it
        self._image: Base64Arrival | None = None

    def feed(self, chunk: bytes) -> None:
        position, end = 0, len(chunk)
        while position < end:
            if self._escape:
                position = self._continue_escape(chunk, position)
            elif self._in_string:
                position = self._read_string(chunk, position)
            else:
                position = self._read_structure(chunk, position)
        if len(self._text) > MAX_TEXT_BYTES:
            raise NotAnAnswer(f"more than {MAX_TEXT_BYTES} bytes of JSON besides the images")

    def finish(self) -> Any:
        if self._in_string:
            self.discard()
            raise NotAnAnswer("the body ended inside a string")
        try:
            return json.loads(self._text)
        except ValueError as exc:
            self.discard()
            raise NotAnAnswer(str(exc)) from exc

    def discard(self) -> None:
        """Delete every image read so far (the answer failed), and one still arriving."""
        if self._image is not None:
            self._image.discard()
            self._image = None
        for image in self.images.values():
            if isinstance(image, ImageFile):
                image.path.unlink(missing_ok=True)
        self.images.clear()

    # --- outside strings: structure, numbers, literals -----------------------------------------------

    def _read_structure(self, chunk: bytes, position: int) -> int:
        quote = chunk.find(b'"', position)
        stop = len(chunk) if quote < 0 else quote
        piece = chunk[position:stop]
        self._text += piece
        for found in _STRUCTURE.finditer(piece):
            self._structure(found.group())
        if quote < 0:
            return stop
        self._open_string()
        return quote + 1

    def _structure(self, char: bytes) -> None:
        if char in (b"{", b"["):
            if len(self._stack) >= MAX_DEPTH:
                raise NotAnAnswer(f"JSON nested more than {MAX_DEPTH} levels deep")
            self._stack.append([char, self._current_key() if char == b"[" else None])
            self._expect_key = char == b"{"
        elif char in (b"}", b"]"):
            if self._stack:
                self._stack.pop()
            self._expect_key = False
        elif char == b",":
            self._expect_key = bool(self._stack) and self._stack[-1][0] == b"{"
        else:  # ":"
            self._expect_key = False

    def _current_key(self) -> str | None:
        """The key a value read now sits under: the member's key, or the enclosing array's."""
        return self._stack[-1][1] if self._stack else None

    # --- strings -------------------------------------------------------------------------------------

    def _open_string(self) -> None:
        self._in_string = True
        self._string_is_key = self._expect_key
        if self._string_is_key:
            self._key.clear()
        elif self._current_key() in self.image_keys:
            self._image = Base64Arrival()
            return
        self._text += b'"'

    def _read_string(self, chunk: bytes, position: int) -> int:
        quote = chunk.find(b'"', position)
        end = len(chunk) if quote < 0 else quote
        backslash = chunk.find(b"\\", position, end)  # two scans by memchr: faster than one regex
        stop = end if backslash < 0 else backslash
        self._string_piece(chunk[position:stop])
        if stop == len(chunk):
            return stop
        if backslash >= 0:
            self._escape += b"\\"
            return stop + 1
        self._close_string()
        return stop + 1

    def _string_piece(self, piece: bytes) -> None:
        if not piece:
            return
        if self._image is not None:
            self._image.feed(piece)
            return
        self._text += piece
        if self._string_is_key:
            self._key += piece

    def _continue_escape(self, chunk: bytes, position: int) -> int:
        """Collect ``\\x`` or ``\\uXXXX``, which may be split between pieces."""
        if len(self._escape) == 1:  # the character after the backslash
            self._escape += chunk[position : position + 1]
            position += 1
            if self._escape[1:2] != b"u":
                self._end_escape()
            return position
        take = min(6 - len(self._escape), len(chunk) - position)
        self._escape += chunk[position : position + take]
        if len(self._escape) == 6:
            self._end_escape()
        return position + take

    def _end_escape(self) -> None:
        """A kept string keeps the escape as written; an image's text gets what it stands for."""
        escape, self._escape = bytes(self._escape), bytearray()
        if self._image is not None:
            self._image.feed(_unescaped(escape))
            return
        self._text += escape
        if self._string_is_key:
            self._key += escape

    def _close_string(self) -> None:
        self._in_string = False
        if self._image is not None:
            image, self._image = self._image, None
            self._text += self._marker(image)
            return
        self._text += b'"'
        if self._string_is_key:
            if self._stack:
                self._stack[-1][1] = _decoded_key(bytes(self._key))
            self._expect_key = False

    def _marker(self, image: Base64Arrival) -> bytes:
        """An empty string stays empty (as it would parse); any other is replaced by a marker."""
        outcome = image.finish()
        if isinstance(outcome, ImageFile) and outcome.size == 0 and image.error is None:
            image.discard()
            return b'""'
        marker = f"\x00image-{self._nonce}-{len(self.images)}"
        self.images[marker] = outcome
        return json.dumps(marker).encode()


def _unescaped(escape: bytes) -> bytes:
    """What a JSON escape stands for, as the bytes base64 decoding is given (non-ASCII is refused there)."""
    if escape[1:2] == b"u":
        try:
            return chr(int(escape[2:], 16)).encode("utf-8", "surrogatepass")
        except ValueError:
            return b"!"  # not an escape: not base64 either
    return _ESCAPES.get(escape[1:2], b"!")


def _decoded_key(raw: bytes) -> str | None:
    try:
        key = json.loads(b'"' + raw + b'"')
    except ValueError:
        return None
    return key if isinstance(key, str) else None
