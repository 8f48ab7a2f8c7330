"""The local store as a request dependency: signed links exist only when images are local files."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from donatello.dependencies import resources_of
from donatello.storage.errors import StoredImageMissing
from donatello.storage.local import LocalImageStore


def _local_store(request: Request) -> LocalImageStore:
    """With Blob Storage configured, reads go to SAS URLs: a ``/v1/files`` link is then never valid."""
    store = resources_of(request).image_store
    if not isinstance(store, LocalImageStore):
        raise StoredImageMissing()
    return store


LocalFiles = Annotated[LocalImageStore, Depends(_local_store)]
