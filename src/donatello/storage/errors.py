"""Storage errors: each carries its HTTP meaning, so an endpoint can raise it as it is."""

from __future__ import annotations

from donatello.core.errors import DomainError


class StoredImageMissing(DomainError):
    """The image is not in the store (never written, deleted, or a read link that is no longer valid).

    A refused link looks exactly like a missing image: a caller learns nothing about what exists.
    """

    status = 404
    type = "not-found"
    title = "Not found"

    def __init__(self, name: str | None = None) -> None:
        super().__init__(
            "The file was not found, or its link has expired or is not valid; ask for a new link",
            resource="file",
        )
        self.name = name


class InvalidImageName(DomainError):
    """A name that could escape the store or is not one we mint (see ``names.check_name``)."""

    status = 422
    type = "invalid-image-name"
    title = "The image name is not valid"

    def __init__(self, name: str) -> None:
        super().__init__(f"{name[:80]!r} is not a valid image name")
