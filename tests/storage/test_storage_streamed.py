"""Large files into the stores a bounded piece at a time: Blob Storage (Azurite) takes a file larger than a
block as staged blocks that become visible only when committed, so an upload broken part-way leaves the
blob as it was; thumbnails are made from the image's file, as from its bytes."""

from __future__ import annotations

import asyncio
import io
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob.aio import BlobServiceClient
from PIL import Image

from donatello.storage import make_thumbnail
from donatello.storage.blob import BlobImageStore
from tests.support.factories import unique
from tests.support.large_images import noise_png

BLOCK = 256 * 1024


@pytest.fixture
async def blob(
    azurite_connection_string: str,
) -> AsyncIterator[tuple[BlobImageStore, BlobServiceClient, str]]:
    container = unique("streamed")
    store = BlobImageStore.from_connection_string(azurite_connection_string, container, block_bytes=BLOCK)
    await store.ensure_container()
    raw = BlobServiceClient.from_connection_string(azurite_connection_string, api_version="2025-11-05")
    async with raw:
        yield store, raw, container
    await store.close()


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


async def test_a_file_larger_than_a_block_is_committed_in_blocks_no_larger_than_one(
    blob: tuple[BlobImageStore, BlobServiceClient, str], tmp_path: Path
) -> None:
    store, raw, container = blob
    image = noise_png()
    name = f"images/2026/12/07/{uuid.uuid4()}-0.png"

    await store.put_file(name, write(tmp_path / "image.png", image), "image/png")

    committed, uncommitted = await raw.get_blob_client(container, name).get_block_list("all")
    assert [block.size for block in committed] == [BLOCK] * (len(image) // BLOCK) + [len(image) % BLOCK]
    assert uncommitted == []
    assert await store.get(name) == image
    properties = await raw.get_blob_client(container, name).get_blob_properties()
    assert properties.content_settings.content_type == "image/png"


async def test_a_file_no_larger_than_a_block_goes_in_one_request(
    blob: tuple[BlobImageStore, BlobServiceClient, str], tmp_path: Path
) -> None:
    store, raw, container = blob
    name = f"images/2026/12/07/{uuid.uuid4()}-0.png"

    await store.put_file(name, write(tmp_path / "small.png", noise_png(64)), "image/png")

    committed, _ = await raw.get_blob_client(container, name).get_block_list("committed")
    assert len(committed) <= 1  # a single Put Blob (Azurite lists none or one implicit block)
    assert await store.get(name) == noise_png(64)


async def test_an_upload_broken_part_way_leaves_the_blob_as_it_was(
    blob: tuple[BlobImageStore, BlobServiceClient, str], tmp_path: Path
) -> None:
    store, raw, container = blob
    name = f"images/2026/12/07/{uuid.uuid4()}-0.png"
    await store.put(name, b"the image before", "image/png")
    client = raw.get_blob_client(container, name)

    upload = asyncio.create_task(store.put_file(name, write(tmp_path / "new.png", noise_png()), "image/png"))
    while not (await client.get_block_list("uncommitted"))[1]:  # until blocks of it are staged
        assert not upload.done()
    upload.cancel()  # the worker is stopped, or the connection drops, part-way
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert await store.get(name) == b"the image before"


async def test_an_upload_broken_part_way_leaves_no_blob_where_there_was_none(
    blob: tuple[BlobImageStore, BlobServiceClient, str], tmp_path: Path
) -> None:
    store, raw, container = blob
    name = f"images/2026/12/07/{uuid.uuid4()}-0.png"
    client = raw.get_blob_client(container, name)

    upload = asyncio.create_task(store.put_file(name, write(tmp_path / "new.png", noise_png()), "image/png"))
    while True:
        try:
            if (await client.get_block_list("uncommitted"))[1]:
                break
        except ResourceNotFoundError:  # nothing staged yet
            assert not upload.done()
    upload.cancel()
    with pytest.raises(asyncio.CancelledError):
        await upload

    assert not await client.exists()


def test_a_thumbnail_made_from_a_file_is_the_one_made_from_its_bytes(tmp_path: Path) -> None:
    for mode in ("RGB", "RGBA", "P"):
        picture = Image.frombytes("RGB", (640, 360), random.Random(3).randbytes(640 * 360 * 3))
        out = io.BytesIO()
        picture.convert(mode).save(out, format="PNG")
        source = write(tmp_path / f"{mode}.png", out.getvalue())

        thumbnail = make_thumbnail(source, max_side=256)

        assert thumbnail == make_thumbnail(out.getvalue(), max_side=256)
        with Image.open(io.BytesIO(thumbnail)) as made:
            assert (made.format, made.size) == ("JPEG", (256, 144))
