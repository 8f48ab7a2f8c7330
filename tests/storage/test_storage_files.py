"""The local store's file route and start-up wiring: ``GET /v1/files/{token}`` serves only what a valid
signature names, from inside the image directory, to anyone holding the link (no bearer token)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import stat
import uuid
from pathlib import Path

import httpx
import pytest
from azure.storage.blob.aio import BlobServiceClient
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from donatello.config import Settings
from donatello.core.clock import utcnow
from donatello.main import create_app
from donatello.storage import LocalImageStore, blob_names, image_store_from_settings, open_image_store
from donatello.storage.blob import BlobImageStore
from donatello.storage.configured import LINK_KEY_FILE
from tests.support.factories import unique

SECRET = b"not an image: the keys to the kingdom"


@pytest.fixture
def files(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """No bearer token, but a database: the route asks whether an image's generation was deleted."""
    return client


@pytest.fixture
def store(app: FastAPI) -> LocalImageStore:
    local: LocalImageStore = app.state.image_store
    return local


def forged_link(settings: Settings, payload: str) -> str:
    """A link signed with the real key over a payload the store itself would never sign."""
    key = (settings.key_dir / LINK_KEY_FILE).read_bytes()
    raw = payload.encode()
    mac = hmac.new(key, b"donatello-file-v1\n" + raw, hashlib.sha256).digest()

    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    return f"/v1/files/{encode(raw)}.{encode(mac)}"


def assert_not_found(response: httpx.Response) -> None:
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404
    assert SECRET not in response.content


async def test_a_link_serves_the_image_privately_without_a_bearer_token(
    files: httpx.AsyncClient, store: LocalImageStore
) -> None:
    name, _ = blob_names(uuid.uuid4(), utcnow(), 0)
    await store.put(name, b"\x89PNG\r\n\x1a\n fake but stored as is", "image/png")
    url = await store.read_url(name)
    assert url.startswith("http://127.0.0.1:8000/v1/files/")

    response = await files.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"].startswith("private, max-age=")
    assert 0 < int(response.headers["cache-control"].rsplit("=", 1)[1]) <= 15 * 60
    assert response.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b",
        "....",
        "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "..%2F..%2Fkeys%2Ffile-links.key",
        "x" * 5000,
        "eyJhbGciOiJub25lIn0.e30.",
    ],
)
async def test_garbage_tokens_are_a_plain_404_problem(files: httpx.AsyncClient, token: str) -> None:
    assert_not_found(await files.get(f"/v1/files/{token}"))


async def test_a_signed_name_that_climbs_out_of_the_directory_is_never_served(
    files: httpx.AsyncClient, store: LocalImageStore, settings: Settings
) -> None:
    (store.root.parent / "secret.png").write_bytes(SECRET)
    far_future = int(utcnow().timestamp()) + 3600
    for name in (
        "../secret.png",
        "images/../../secret.png",
        "/etc/passwd",
        str(store.root.parent / "secret.png"),
    ):
        assert_not_found(await files.get(forged_link(settings, f"{far_future}:{name}")))


async def test_a_symlink_planted_in_the_directory_does_not_lead_outside(
    files: httpx.AsyncClient, store: LocalImageStore, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.png"
    outside.write_bytes(SECRET)
    (store.root / "planted.png").symlink_to(outside)
    assert_not_found(await files.get(await store.read_url("planted.png")))


async def test_a_link_for_a_deleted_image_is_a_404(files: httpx.AsyncClient, store: LocalImageStore) -> None:
    name, _ = blob_names(uuid.uuid4(), utcnow(), 0)
    await store.put(name, b"soon gone", "image/png")
    url = await store.read_url(name)
    await store.delete(name)
    assert_not_found(await files.get(url))


async def test_writes_leave_no_temporary_files_and_keep_the_directory_private(
    store: LocalImageStore, settings: Settings
) -> None:
    image, thumbnail = blob_names(uuid.uuid4(), utcnow(), 1)
    await store.put(image, b"one", "image/png")
    await store.put(image, b"two", "image/png")
    await store.put(thumbnail, b"three", "image/jpeg")
    assert not [path for path in store.root.rglob("*.tmp")]
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700
    assert stat.S_IMODE((settings.key_dir / LINK_KEY_FILE).stat().st_mode) == 0o600
    assert stat.S_IMODE((store.root / image).stat().st_mode) == 0o600


async def test_a_non_image_content_type_is_served_as_an_attachment(
    files: httpx.AsyncClient, store: LocalImageStore
) -> None:
    await store.put("metadata/page.html", b"<script>alert(1)</script>", "text/html")
    response = await files.get(await store.read_url("metadata/page.html"))
    assert response.status_code == 200
    assert response.headers["content-disposition"] == 'attachment; filename="page.html"'
    assert "sandbox" in response.headers["content-security-policy"]


def test_without_a_connection_string_images_go_to_the_data_directory(settings: Settings) -> None:
    store = image_store_from_settings(settings, public_base_url="https://api.example.com/")
    assert isinstance(store, LocalImageStore)
    assert store.root == settings.data_dir / "images"


async def test_with_a_connection_string_startup_creates_the_container(
    settings: Settings, engine: AsyncEngine, azurite_connection_string: str
) -> None:
    container = unique("startup")
    blob_settings = Settings(
        _env_file=None,
        data_dir=settings.data_dir,
        database_url=settings.database_url,
        blob_connection_string=azurite_connection_string,
        blob_container=container,
    )
    app = create_app(blob_settings, engine=engine)
    async with app.router.lifespan_context(app):
        store = app.state.image_store
        assert isinstance(store, BlobImageStore)
        await store.put("images/2026/11/22/x-0.png", b"png", "image/png")
        # The local file route has nothing to serve when images live in Blob Storage.
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert_not_found(await http.get("/v1/files/anything.at-all"))

    async with BlobServiceClient.from_connection_string(azurite_connection_string) as raw:
        assert await raw.get_container_client(container).exists()
    again = await open_image_store(blob_settings, public_base_url="http://unused")  # exists already: fine
    assert await again.get("images/2026/11/22/x-0.png") == b"png"
    await again.close()
