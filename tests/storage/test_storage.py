"""Image storage, the same story told for both stores: the local directory and Blob Storage (Azurite).

A read URL is what a browser gets in an API response, so every read here goes through real HTTP: the
local store's signed links through the app's ``/v1/files`` route, Blob SAS URLs straight to Azurite.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient
from fastapi import FastAPI
from PIL import Image

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.storage import (
    ImageStore,
    InvalidImageName,
    LocalImageStore,
    StoredImageMissing,
    blob_names,
    make_thumbnail,
)
from donatello.storage.blob import BlobImageStore
from donatello.storage.configured import LINK_KEY_FILE
from donatello.storage.signing import FileLinkSigner, load_or_create_key
from tests.support.factories import unique

SYDNEY = ZoneInfo("Australia/Sydney")


def png(width: int = 64, height: int = 48, colour: tuple[int, int, int, int] = (200, 30, 60, 255)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), colour).save(out, format="PNG")
    return out.getvalue()


def an_hour_ago() -> datetime:
    return utcnow() - timedelta(hours=1)


@dataclass
class Backend:
    """One store under test, a second one on the same storage whose clock is an hour slow (its links are
    born expired), an HTTP client that can follow the store's read URLs, and where the files really are."""

    kind: str
    store: ImageStore
    slow_clock: ImageStore
    http: httpx.AsyncClient
    container: BlobServiceClient | None = None
    container_name: str = ""
    root: Path | None = None

    async def tier(self, name: str) -> str:
        """The tier as the storage itself reports it, not as the store claims it."""
        if self.container is not None:
            properties = await self.container.get_blob_client(self.container_name, name).get_blob_properties()
            return str(properties.blob_tier)
        assert isinstance(self.store, LocalImageStore)
        return await self.store.tier_of(name)


@pytest.fixture(scope="session")
async def blob_container(azurite_connection_string: str) -> AsyncIterator[tuple[BlobImageStore, str]]:
    container = unique("images")
    store = BlobImageStore.from_connection_string(azurite_connection_string, container)
    await store.ensure_container()
    yield store, container
    await store.close()


#: How each store refuses a link that is expired, altered or for another image: Blob Storage (Azurite) as
#: Azure does, 403 AuthenticationFailed; the local store as if there were nothing there.
REFUSED = {"local": 404, "blob": 403}


@pytest.fixture(params=["local", "blob"])
async def backend(
    request: pytest.FixtureRequest,
    app: FastAPI,
    settings: Settings,
    azurite_connection_string: str,
    blob_container: tuple[BlobImageStore, str],
    client: httpx.AsyncClient,
) -> AsyncIterator[Backend]:
    if request.param == "local":
        store: LocalImageStore = app.state.image_store
        slow = LocalImageStore(
            store.root,
            signer=FileLinkSigner(load_or_create_key(settings.key_dir / LINK_KEY_FILE)),
            public_base_url=f"http://{settings.host}:{settings.port}",
            clock=an_hour_ago,
        )
        # The links carry the configured public host; the client's transport takes them into this app
        # (and its requests into the test's transaction: the route checks the image's generation).
        yield Backend("local", store, slow, client, root=store.root)
        return
    blob_store, container = blob_container
    slow_blob = BlobImageStore.from_connection_string(azurite_connection_string, container, clock=an_hour_ago)
    raw = BlobServiceClient.from_connection_string(azurite_connection_string, api_version="2025-11-05")
    async with httpx.AsyncClient() as http, raw:
        yield Backend("blob", blob_store, slow_blob, http, container=raw, container_name=container)
    await slow_blob.close()


def a_name(suffix: str = ".png") -> str:
    image, thumbnail = blob_names(uuid.uuid4(), utcnow(), 0)
    return image if suffix == ".png" else thumbnail


# -- names and thumbnails -------------------------------------------------------------------------------


def test_names_are_partitioned_by_the_utc_date_of_creation() -> None:
    generation = uuid.UUID("aa0e8400-e29b-41d4-a716-446655440000")
    # 08:00 on 23 November in Sydney is still 22 November in UTC.
    image, thumbnail = blob_names(generation, datetime(2026, 11, 23, 8, 0, tzinfo=SYDNEY), 2)
    assert image == f"images/2026/11/22/{generation}-2.png"
    assert thumbnail == f"images/2026/11/22/{generation}-2_thumb.jpg"


def test_a_naive_creation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        blob_names(uuid.uuid4(), datetime(2026, 11, 22, 12, 0), 0)


def test_thumbnail_is_a_real_jpeg_no_larger_than_max_side_with_the_same_aspect() -> None:
    thumbnail = make_thumbnail(png(1024, 512, (10, 20, 30, 128)), max_side=256)
    with Image.open(io.BytesIO(thumbnail)) as image:
        assert image.format == "JPEG"
        assert image.size == (256, 128)
        assert image.mode == "RGB"


def test_thumbnail_of_a_tall_image_and_of_a_small_one() -> None:
    with Image.open(io.BytesIO(make_thumbnail(png(300, 900), max_side=120))) as tall:
        assert tall.size == (40, 120)
    with Image.open(io.BytesIO(make_thumbnail(png(50, 20)))) as small:
        assert small.size == (50, 20)  # never enlarged


# -- both stores ----------------------------------------------------------------------------------------


async def test_put_then_get_returns_the_same_bytes(backend: Backend) -> None:
    name, data = a_name(), png()
    await backend.store.put(name, data, "image/png")
    assert await backend.store.get(name) == data


async def test_put_replaces_what_was_there(backend: Backend) -> None:
    name = a_name()
    await backend.store.put(name, png(colour=(1, 2, 3, 255)), "image/png")
    await backend.store.put(name, png(colour=(4, 5, 6, 255)), "image/png")
    assert await backend.store.get(name) == png(colour=(4, 5, 6, 255))


async def test_put_file_stores_a_file_streamed_and_replaces_what_was_there(
    backend: Backend, tmp_path: Path
) -> None:
    name = f"exports/{uuid.uuid4()}/cost-events.csv"
    source = tmp_path / "export.csv"
    source.write_bytes(b"old\n")
    await backend.store.put_file(name, source, "text/csv")
    body = b"".join(f"{i},0.0800\n".encode() for i in range(200_000))  # ~2.5 MB, several blocks' worth
    source.write_bytes(body)
    await backend.store.put_file(name, source, "text/csv")
    assert source.read_bytes() == body  # the caller's file is left as it was
    assert await backend.store.get(name) == body
    response = await backend.http.get(await backend.store.read_url(name))
    assert response.status_code == 200 and response.content == body
    assert response.headers["content-type"].startswith("text/csv")
    if backend.root is not None:  # no temporary files left beside it
        assert [p.name for p in (backend.root / name).parent.iterdir()] == ["cost-events.csv"]


async def test_get_file_writes_a_stored_file_back_streamed(backend: Backend, tmp_path: Path) -> None:
    name = f"reconciliations/{uuid.uuid4()}/upload"
    source, copy = tmp_path / "bill.csv", tmp_path / "copy.csv"
    body = b"".join(f"2031-04-0{i % 9 + 1},a/b,0.0800,AUD\n".encode() for i in range(200_000))
    source.write_bytes(body)
    await backend.store.put_file(name, source, "application/octet-stream")
    await backend.store.get_file(name, copy)
    assert copy.read_bytes() == body
    with pytest.raises(StoredImageMissing):
        await backend.store.get_file(a_name(), tmp_path / "never.csv")


async def test_get_of_a_missing_image_raises_stored_image_missing(backend: Backend) -> None:
    with pytest.raises(StoredImageMissing):
        await backend.store.get(a_name())


async def test_read_url_serves_the_bytes_with_their_content_type(backend: Backend) -> None:
    image_name, thumbnail_name = blob_names(uuid.uuid4(), utcnow(), 0)
    image = png(320, 200)
    thumbnail = make_thumbnail(image)
    await backend.store.put(image_name, image, "image/png")
    await backend.store.put(thumbnail_name, thumbnail, "image/jpeg")

    for name, data, content_type in (
        (image_name, image, "image/png"),
        (thumbnail_name, thumbnail, "image/jpeg"),
    ):
        response = await backend.http.get(await backend.store.read_url(name))
        assert response.status_code == 200
        assert response.content == data
        assert response.headers["content-type"] == content_type


async def test_a_file_that_is_not_an_image_downloads_under_its_own_name(backend: Backend) -> None:
    name = f"exports/{uuid.uuid4()}/{uuid.uuid4()}/cost-events-2026-11-01-2026-11-30.csv"
    await backend.store.put(name, b"id,amount\n", "text/csv")
    image_name, _ = blob_names(uuid.uuid4(), utcnow(), 0)
    await backend.store.put(image_name, png(8, 8), "image/png")

    download = await backend.http.get(await backend.store.read_url(name))
    shown = await backend.http.get(await backend.store.read_url(image_name))

    assert download.status_code == 200 and download.content == b"id,amount\n"
    expected = 'attachment; filename="cost-events-2026-11-01-2026-11-30.csv"'
    assert download.headers["content-disposition"] == expected
    assert "content-disposition" not in shown.headers  # an image is shown, not downloaded


async def test_an_expired_read_url_is_refused(backend: Backend) -> None:
    name = a_name()
    await backend.store.put(name, png(), "image/png")
    url = await backend.slow_clock.read_url(name, expires_in=timedelta(minutes=15))  # expired 45 min ago
    response = await backend.http.get(url)
    assert response.status_code == REFUSED[backend.kind]
    assert response.content != png()


async def test_a_read_url_whose_expiry_was_pushed_back_is_refused(backend: Backend) -> None:
    name = a_name()
    await backend.store.put(name, png(), "image/png")
    url = await backend.slow_clock.read_url(name)
    response = await backend.http.get(push_back_expiry(url))
    assert response.status_code == REFUSED[backend.kind]
    assert response.content != png()


async def test_a_read_url_for_one_image_cannot_be_turned_into_another(backend: Backend) -> None:
    mine, theirs = a_name(), a_name()
    await backend.store.put(mine, png(colour=(1, 1, 1, 255)), "image/png")
    await backend.store.put(theirs, png(colour=(2, 2, 2, 255)), "image/png")
    url = await backend.store.read_url(mine)
    response = await backend.http.get(rename(url, mine, theirs))
    assert response.status_code == REFUSED[backend.kind]


async def test_read_urls_are_short_lived(backend: Backend) -> None:
    name = a_name()
    for lifetime in (timedelta(0), timedelta(seconds=-5), timedelta(days=2)):
        with pytest.raises(ValueError, match="read URL must live"):
            await backend.store.read_url(name, expires_in=lifetime)


async def test_delete_removes_the_image_and_is_idempotent(backend: Backend) -> None:
    name = a_name()
    await backend.store.put(name, png(), "image/png")
    url = await backend.store.read_url(name)
    await backend.store.delete(name)
    await backend.store.delete(name)
    await backend.store.delete(a_name())  # never existed
    with pytest.raises(StoredImageMissing):
        await backend.store.get(name)
    assert (await backend.http.get(url)).status_code == 404


async def test_set_tier_moves_the_image_through_the_lifecycle(backend: Backend) -> None:
    name = a_name()
    await backend.store.put(name, png(), "image/png")
    assert await backend.tier(name) == "Hot"
    await backend.store.set_tier(name, "Cool")
    assert await backend.tier(name) == "Cool"
    await backend.store.set_tier(name, "Archive")
    assert await backend.tier(name) == "Archive"


async def test_set_tier_of_a_missing_image_raises_stored_image_missing(backend: Backend) -> None:
    with pytest.raises(StoredImageMissing):
        await backend.store.set_tier(a_name(), "Cool")


async def test_images_are_stored_under_their_date_partition(backend: Backend) -> None:
    generation = uuid.uuid4()
    image, thumbnail = blob_names(generation, datetime(2025, 11, 17, 3, 0, tzinfo=UTC), 0)
    await backend.store.put(image, png(), "image/png")
    await backend.store.put(thumbnail, make_thumbnail(png()), "image/jpeg")
    prefix = "images/2025/11/17/"
    if backend.container is not None:
        listed = backend.container.get_container_client(backend.container_name).list_blob_names(
            name_starts_with=prefix
        )
        stored = {name async for name in listed if str(generation) in name}
    else:
        assert backend.root is not None
        stored = {
            path.relative_to(backend.root).as_posix()
            for path in (backend.root / prefix).iterdir()
            if str(generation) in path.name
        }
    assert stored == {f"{prefix}{generation}-0.png", f"{prefix}{generation}-0_thumb.jpg"}


@pytest.mark.parametrize(
    "name", ["../escape.png", "/etc/passwd", "images//x.png", "images/../../x.png", ".hidden", "a\\b.png", ""]
)
async def test_names_that_could_escape_are_refused(backend: Backend, name: str) -> None:
    with pytest.raises(InvalidImageName):
        await backend.store.put(name, b"x", "image/png")


async def test_a_content_type_that_could_split_a_header_is_refused(backend: Backend) -> None:
    with pytest.raises(ValueError, match="not a content type"):
        await backend.store.put(a_name(), b"x", "image/png\r\nSet-Cookie: a=b")


# -- helpers --------------------------------------------------------------------------------------------


def push_back_expiry(url: str) -> str:
    """Move the expiry a day later without re-signing (what someone holding an old link would try)."""
    parts = urlsplit(url)
    if parts.query:  # a SAS: se=2026-11-22T10:00:00Z
        query = dict(parse_qsl(parts.query))
        expiry = datetime.strptime(query["se"], "%Y-%m-%dT%H:%M:%SZ") + timedelta(days=1)
        query["se"] = expiry.strftime("%Y-%m-%dT%H:%M:%SZ")
        return urlunsplit(parts._replace(query=urlencode(query)))
    token = parts.path.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    expires_epoch, name = base64.urlsafe_b64decode(payload + "==").decode().split(":", 1)
    forged = base64.urlsafe_b64encode(f"{int(expires_epoch) + 86400}:{name}".encode()).rstrip(b"=").decode()
    return url.replace(token, f"{forged}.{mac}")


def rename(url: str, mine: str, theirs: str) -> str:
    parts = urlsplit(url)
    if parts.query:
        return url.replace(mine, theirs)
    token = parts.path.rsplit("/", 1)[1]
    payload, mac = token.split(".")
    expiry, _ = base64.urlsafe_b64decode(payload + "==").decode().split(":", 1)
    forged = base64.urlsafe_b64encode(f"{expiry}:{theirs}".encode()).rstrip(b"=").decode()
    return url.replace(token, f"{forged}.{mac}")
