"""Which image store runs is decided here, once, from settings: Blob when configured, else local files."""

from __future__ import annotations

from donatello.config import Settings
from donatello.storage.local import LocalImageStore
from donatello.storage.signing import FileLinkSigner, load_or_create_key
from donatello.storage.store import ImageStore

LINK_KEY_FILE = "file-links.key"


def image_store_from_settings(settings: Settings, *, public_base_url: str) -> ImageStore:
    """Blob Storage when ``blob_connection_string`` is set, else ``settings.data_dir / "images"``.

    ``public_base_url`` is where this API is reachable; the local store's read links point at it.
    """
    if settings.blob_connection_string is not None:
        from donatello.storage.blob import BlobImageStore  # the Azure SDK loads only when Blob is used

        return BlobImageStore.from_connection_string(
            settings.blob_connection_string.get_secret_value(),
            settings.blob_container,
            api_version=settings.blob_api_version or None,
        )
    signer = FileLinkSigner(load_or_create_key(settings.key_dir / LINK_KEY_FILE))
    return LocalImageStore(settings.data_dir / "images", signer=signer, public_base_url=public_base_url)


async def open_image_store(settings: Settings, *, public_base_url: str | None = None) -> ImageStore:
    """The configured store, ready to use: the Blob container exists once this returns. Local file links
    point at ``public_base_url`` (default: the settings' public URL)."""
    store = image_store_from_settings(settings, public_base_url=public_base_url or settings.public_url)
    if settings.blob_connection_string is not None:
        from donatello.storage.blob import BlobImageStore

        assert isinstance(store, BlobImageStore)
        try:
            await store.ensure_container()
        except BaseException:
            await store.close()
            raise
    return store


async def open_drop_store(settings: Settings) -> ImageStore:
    """Where scheduled exports are dropped: the ``export_drop_container`` of the Blob account when Blob is
    configured (created if missing), else the folder ``data_dir/drops/<container>``."""
    container = settings.export_drop_container
    if settings.blob_connection_string is not None:
        from donatello.storage.blob import BlobImageStore

        store = BlobImageStore.from_connection_string(
            settings.blob_connection_string.get_secret_value(),
            container,
            api_version=settings.blob_api_version or None,
        )
        try:
            await store.ensure_container()
        except BaseException:
            await store.close()
            raise
        return store
    signer = FileLinkSigner(load_or_create_key(settings.key_dir / LINK_KEY_FILE))
    return LocalImageStore(
        settings.data_dir / "drops" / container, signer=signer, public_base_url=settings.public_url
    )
