"""Image storage: a local directory by default, Azure Blob Storage when configured.

The generation worker and the API use only what is exported here; ``Resources.image_store`` holds the
configured :class:`ImageStore` for the life of the process.
"""

from donatello.storage.configured import image_store_from_settings, open_drop_store, open_image_store
from donatello.storage.errors import InvalidImageName, StoredImageMissing
from donatello.storage.local import LocalImageStore
from donatello.storage.names import blob_names
from donatello.storage.store import ImageStore, Tier
from donatello.storage.thumbnails import make_thumbnail

__all__ = [
    "ImageStore",
    "InvalidImageName",
    "LocalImageStore",
    "StoredImageMissing",
    "Tier",
    "blob_names",
    "image_store_from_settings",
    "make_thumbnail",
    "open_drop_store",
    "open_image_store",
]
