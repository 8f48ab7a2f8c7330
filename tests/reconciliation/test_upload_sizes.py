"""The documented sizes of a reconciliation upload hold over HTTP, at their real defaults: a 2 MiB file is
compared at once (201), a file one byte over the 8 MiB inline threshold is queued for the worker (202),
and a body past the maximum is refused with a 413 problem as it arrives. Every other route keeps the
API's 1 MiB body cap. Bodies are streamed from generators (chunked, no Content-Length), as a large
upload would arrive, so the tests hold no file in memory."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from donatello.auth.tokens import TokenSigner
from donatello.config import Settings
from donatello.middleware import FORM_OVERHEAD_BYTES, MAX_BODY_BYTES
from tests.support.reconciliation_world import DAYS, build
from tests.support.signin import bearer_for

BOUNDARY = "donatello-test-boundary"
MIB = 1 << 20
ROW = f"{DAYS[0]},azure-openai/unpriced-model,0.0100,AUD\n".encode()
HEADER = b"date,model,cost,currency\n"


def _form_parts(file_size: int) -> tuple[bytes, bytes]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="provider"\r\n\r\nazure-openai\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="format"\r\n\r\ngeneric\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="bill-{file_size}.csv"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    return head, f"\r\n--{BOUNDARY}--\r\n".encode()


class Streamed:
    """A multipart upload of a ``file_size``-byte cost file, yielded in 256 KiB chunks; ``sent`` counts
    what the server actually pulled."""

    def __init__(self, file_size: int) -> None:
        self.file_size = file_size
        self.sent = 0

    async def body(self) -> AsyncIterator[bytes]:
        head, tail = _form_parts(self.file_size)
        block = ROW * (256 * 1024 // len(ROW))
        remaining = self.file_size
        for part in (head, HEADER):
            yield part
            self.sent += len(part)
        while remaining > 0:
            chunk = block[:remaining]
            yield chunk
            self.sent += len(chunk)
            remaining -= len(chunk)
        yield tail
        self.sent += len(tail)


def _padded(file_size: int) -> bytes:
    """``file_size`` bytes of whole rows: the last row's cost padded with zeros to fill the size."""
    rows, rest = divmod(file_size - len(HEADER), len(ROW))
    last = b""
    if rest:
        rows -= 1
        last = ROW.replace(b"0.0100", b"0.0100" + b"0" * rest)
    data = HEADER + ROW * rows + last
    assert len(data) == file_size
    return data


async def _post(
    client: httpx.AsyncClient, headers: dict[str, str], body: AsyncIterator[bytes]
) -> httpx.Response:
    return await client.post(
        "/v1/reconciliations",
        content=body,
        headers={**headers, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )


async def _whole(data: bytes) -> AsyncIterator[bytes]:
    head, tail = _form_parts(len(data))
    yield head
    for start in range(0, len(data), 256 * 1024):
        yield data[start : start + 256 * 1024]
    yield tail


def test_the_defaults_are_the_documented_sizes(settings: Settings) -> None:
    assert settings.reconciliation_inline_max_bytes == 8 * MIB
    assert settings.reconciliation_max_upload_bytes == 4 << 30


async def test_a_2_mib_file_is_compared_at_once(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    response = await _post(client, bearer_for(tokens, world.finance), _whole(_padded(2 * MIB)))
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "done"
    assert response.json()["rows_read"] == (2 * MIB - len(HEADER)) // len(ROW)


async def test_a_file_one_byte_over_the_inline_threshold_is_queued(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, settings: Settings
) -> None:
    world = await build(db)
    size = settings.reconciliation_inline_max_bytes + 1
    response = await _post(client, bearer_for(tokens, world.finance), _whole(_padded(size)))
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "queued"
    stored = await db.execute(
        text("SELECT storage_name FROM reconciliations WHERE id = :id"), {"id": response.json()["id"]}
    )
    assert stored.scalar_one()  # staged for the worker


async def test_a_body_past_the_maximum_is_413_as_it_arrives(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner, app: FastAPI, settings: Settings
) -> None:
    """The real maximum is 4 GiB: streaming that through a test would take minutes of CPU and disk, so
    this one test lowers only the maximum (to 3 MiB); the inline and queued thresholds stay real."""
    world = await build(db)
    headers = bearer_for(tokens, world.finance)
    maximum = 3 * MIB
    app.state.settings = settings.model_copy(update={"reconciliation_max_upload_bytes": maximum})
    try:
        upload = Streamed(64 * MIB)
        streamed = await _post(client, headers, upload.body())
        declared = await client.post(
            "/v1/reconciliations",
            content=b"x" * 16,
            headers={
                **headers,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                "Content-Length": str(maximum + FORM_OVERHEAD_BYTES + 1),
            },
        )
    finally:
        app.state.settings = settings
    assert streamed.status_code == 413, streamed.text
    assert streamed.headers["content-type"].startswith("application/problem+json")
    # Refused as it arrived: the server stopped pulling the body soon after the cap, not at 64 MiB.
    assert upload.sent <= maximum + FORM_OVERHEAD_BYTES + 512 * 1024
    assert declared.status_code == 413 and declared.json()["max_bytes"] == maximum + FORM_OVERHEAD_BYTES
    counts = await db.execute(
        text("SELECT count(*) FROM reconciliations WHERE organization_id = :o"), {"o": world.org.id}
    )
    assert counts.scalar_one() == 0


async def test_every_other_route_keeps_the_1_mib_cap(
    db: AsyncSession, client: httpx.AsyncClient, tokens: TokenSigner
) -> None:
    world = await build(db)
    headers = bearer_for(tokens, world.finance)

    async def two_mib() -> AsyncIterator[bytes]:
        for _ in range(8):
            yield b" " * (256 * 1024)

    for method, path in (
        ("PUT", "/v1/reconciliation-settings"),
        ("POST", "/v1/webhooks"),
        ("POST", "/v1/api-keys"),
    ):
        refused = await client.request(
            method, path, content=two_mib(), headers={**headers, "Content-Type": "application/json"}
        )
        assert refused.status_code == 413, (path, refused.text)
    assert MAX_BODY_BYTES == MIB
