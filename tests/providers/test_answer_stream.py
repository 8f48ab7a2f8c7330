"""A provider's answer read as it arrives gives what the same body parsed whole gives: the JSON around the
images exactly as ``json.loads`` reads it, and each image exactly as ``base64.b64decode(validate=True)``
decodes it (or refuses it) — wherever the network happened to split the body."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from donatello.providers import ImageFile, arriving_in
from donatello.providers.answer_stream import MAX_TEXT_BYTES, AnswerReader, NotAnAnswer

KEYS = frozenset({"b64_json", "images"})

#: base64 text, sometimes spoiled the ways a broken provider or proxy spoils it: padding in odd places,
#: line breaks, characters outside the alphabet, JSON escapes of letters that are (\\u0041) or are not
#: (\\u00e9) base64
_SPOILERS = ["=", "==", "A", "!", "\\n", "\\u0041", "\\u00e9", "\\/", " "]


@st.composite
def base64_texts(draw: st.DrawFn) -> str:
    encoded = base64.b64encode(draw(st.binary(max_size=200))).decode()
    pieces = ["\\/" if c == "/" and draw(st.booleans()) else c for c in encoded]
    for _ in range(draw(st.integers(0, 2))):
        pieces.insert(draw(st.integers(0, len(pieces))), draw(st.sampled_from(_SPOILERS)))
    return "".join(pieces)


def _expected(text_in_json: str) -> bytes | None:
    try:
        return base64.b64decode(json.loads(f'"{text_in_json}"'), validate=True)
    except (binascii.Error, ValueError):
        return None


def _read(body: bytes, cuts: list[int]) -> tuple[AnswerReader, Any]:
    reader = AnswerReader(KEYS)
    start = 0
    for cut in [*sorted(cuts), len(body)]:
        reader.feed(body[start:cut])
        start = cut
    return reader, reader.finish()


def _image(reader: AnswerReader, value: object) -> bytes | None:
    image = reader.images[value] if isinstance(value, str) else None
    return image.read_bytes() if isinstance(image, ImageFile) else None


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=base64_texts(),
    second=base64_texts(),
    prompt=st.text(max_size=40),
    data=st.data(),
)
def test_an_answer_split_anywhere_reads_as_the_whole_body_would(
    tmp_path: Path, first: str, second: str, prompt: str, data: st.DataObject
) -> None:
    body = (
        f'{{"created": 1, "data": [{{"b64_json": "{first}", "revised_prompt": {json.dumps(prompt)}}}, '
        f'{{"b64_json": "{second}"}}], "usage": {{"output_tokens": 272, '
        f'"b64_json_elsewhere": ["x", {{"k": [1.5e3, true, null]}}]}}, "images": ["{first}"]}}'
    ).encode()
    whole = json.loads(body)
    cuts = data.draw(st.lists(st.integers(0, len(body)), max_size=8))

    with arriving_in(tmp_path):
        reader, read = _read(body, cuts)

    assert read["usage"] == whole["usage"] and read["created"] == 1
    assert read["data"][0]["revised_prompt"] == prompt
    for value, text in [
        (read["data"][0]["b64_json"], first),
        (read["data"][1]["b64_json"], second),
        (read["images"][0], first),
    ]:
        if text == "":
            assert value == ""  # an empty string stays empty, as it parses
        else:
            assert _image(reader, value) == _expected(text)
            assert isinstance(reader.images[value], ImageFile) == (_expected(text) is not None)
    spoiled = sum(not isinstance(image, ImageFile) for image in reader.images.values())
    assert len(list(tmp_path.iterdir())) == len(reader.images) - spoiled  # nothing for a spoiled image


def test_a_body_that_is_not_json_leaves_no_image_behind(tmp_path: Path) -> None:
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(5000)).decode()
    with arriving_in(tmp_path), pytest.raises(NotAnAnswer):
        _read(('{"data": [{"b64_json": "' + image + '"}], "usage": {').encode(), [100, 2000])
    assert list(tmp_path.iterdir()) == []


def test_a_body_cut_off_inside_an_image_leaves_no_image_behind(tmp_path: Path) -> None:
    image = base64.b64encode(bytes(5000)).decode()
    with arriving_in(tmp_path), pytest.raises(NotAnAnswer):
        _read(('{"data": [{"b64_json": "' + image[:3000]).encode(), [1000])
    assert list(tmp_path.iterdir()) == []


def test_more_than_a_mebibyte_of_json_besides_the_images_is_not_an_answer(tmp_path: Path) -> None:
    """The JSON around an image is kilobytes; a body that is all text is refused before it fills memory."""
    reader = AnswerReader(KEYS)
    with arriving_in(tmp_path), pytest.raises(NotAnAnswer):
        reader.feed(b'{"revised_prompt": "')
        for _ in range(MAX_TEXT_BYTES // 65536 + 2):
            reader.feed(b"a" * 65536)


def test_a_key_spelled_with_escapes_is_still_the_image_key(tmp_path: Path) -> None:
    image = base64.b64encode(b"pixels").decode()
    with arriving_in(tmp_path):
        reader, read = _read(('{"data": [{"b64\\u005fjson": "' + image + '"}]}').encode(), [12, 13])
    assert _image(reader, read["data"][0]["b64_json"]) == b"pixels"


def test_a_body_nested_deeper_than_any_answer_is_not_an_answer(tmp_path: Path) -> None:
    with arriving_in(tmp_path), pytest.raises(NotAnAnswer):
        _read(b'{"data": ' + b"[" * 100_000, [5000, 50_000])
