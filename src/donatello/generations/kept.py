"""What a provider returned, kept on local disk until the images are stored and the generation settled.

A provider call is paid for; storing its images is not. So the worker keeps the answer (the PNGs and
what settlement needs: the model that made them, its quote, the metered usage) before it stores
anything, and a later attempt of the same job — after the image store failed, or the worker died —
finishes from the kept answer instead of calling the provider again.

Layout: ``<root>/<generation id>/image-<n>.png`` and ``outcome.json``, written last through a rename, so
a directory without it is an answer only partly kept (ignored, and replaced by the next keep). The images
arrived as files (``providers.image_bytes``) in ``<root>/.arriving``, so keeping them is a hard link, not
a copy (a copy, in pieces, where links are not possible); ``outcome.json`` records each image's size and
SHA-256, and an image that no longer matches makes the kept answer unreadable. What a killed worker left
arriving is swept when a worker starts (``sweep_arrivals``). The kept answer never
holds a credential (targets are kept without theirs) nor the prompt. With several worker hosts, ``root``
belongs on a volume they share; otherwise a job reclaimed on another host pays again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from donatello.pricing.service import Quote, TokenPrices
from donatello.providers import Candidate, ImageFile, ImageResult, Outcome, ProviderTarget, TokenUsage

log = logging.getLogger(__name__)

OUTCOME = "outcome.json"
ARRIVALS = ".arriving"  # not a uuid: never a generation's folder
#: an answer arrives within its model's deadline (minutes) and its files go once it is stored: a file in
#: ``.arriving`` an hour old was left by a worker that was killed (several workers may share the folder)
STALE_ARRIVAL = timedelta(hours=1)


class KeptResults:
    def __init__(self, root: Path) -> None:
        self.root = root

    @property
    def arrivals(self) -> Path:
        """Where providers' answers arrive (``providers.arriving_in``): beside the kept ones, one disk."""
        return self.root / ARRIVALS

    def keep(self, generation_id: uuid.UUID, outcome: Outcome) -> bool:
        """Keep the answer; False (logged) when the disk refused — the job then goes on without it."""
        folder = self._folder(generation_id)
        try:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True, mode=0o700)
            for index, image in enumerate(outcome.result.images):
                _link_or_copy(image.path, folder / f"image-{index}.png")
            partial = folder / f"{OUTCOME}.partial"
            partial.write_text(json.dumps(_outcome_record(outcome), default=_encode))
            partial.replace(folder / OUTCOME)
        except OSError:
            log.warning(
                "could not keep a provider's answer on disk", extra={"generation_id": str(generation_id)}
            )
            shutil.rmtree(folder, ignore_errors=True)
            return False
        return True

    def kept(self, generation_id: uuid.UUID) -> Outcome | None:
        """The answer an earlier attempt kept, or None (nothing kept, or unreadable)."""
        folder = self._folder(generation_id)
        try:
            record = json.loads((folder / OUTCOME).read_text(), object_hook=_decode)
            return _outcome(record, _kept_images(folder, record["images"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            log.warning("a kept provider answer is unreadable", extra={"generation_id": str(generation_id)})
            return None

    def has(self, generation_id: uuid.UUID) -> bool:
        """Whether an answer is kept (completely: its outcome is written last)."""
        return (self._folder(generation_id) / OUTCOME).is_file()

    def sweep_arrivals(self, now: float | None = None) -> int:
        """Delete what a killed worker left arriving (older than ``STALE_ARRIVAL``); how many files went."""
        cutoff = (time.time() if now is None else now) - STALE_ARRIVAL.total_seconds()
        swept = 0
        with contextlib.suppress(FileNotFoundError):
            for path in self.arrivals.iterdir():
                with contextlib.suppress(OSError):
                    if path.is_file() and path.stat().st_mtime < cutoff:
                        path.unlink()
                        swept += 1
        return swept

    def release_arrived(self, images: list[ImageFile]) -> None:
        """Delete the arrived files of images now stored. Each would go with the last reference to its
        ``ImageFile`` anyway, but a retry's exception can hold that reference in a cycle until the garbage
        collector runs: the disk is given back now, not then (a kept copy is a link of its own and stays)."""
        for image in images:
            if image.path.parent == self.arrivals:
                with contextlib.suppress(FileNotFoundError):
                    image.path.unlink()

    def discard(self, generation_id: uuid.UUID) -> None:
        with contextlib.suppress(OSError):
            shutil.rmtree(self._folder(generation_id))

    def _folder(self, generation_id: uuid.UUID) -> Path:
        return self.root / str(uuid.UUID(str(generation_id)))  # a uuid: never a path of its own choosing


def _outcome_record(outcome: Outcome) -> dict[str, Any]:
    result = outcome.result
    return {
        "candidate": _candidate_record(outcome.candidate),
        "fallback_from": _candidate_record(outcome.fallback_from) if outcome.fallback_from else None,
        "retries": outcome.retries,
        "failures": outcome.failures,
        "images": [{"size": image.size, "sha256": image.sha256} for image in result.images],
        "revised_prompt": result.revised_prompt,
        "safety": result.safety,
        "is_nsfw": result.is_nsfw,
        "latency_ms": result.latency_ms,
        "usage": dataclasses.asdict(result.usage) if result.usage else None,
        "processed_in": outcome.processed_in,
    }


def _candidate_record(candidate: Candidate) -> dict[str, Any]:
    target = candidate.target
    return {
        "provider": candidate.provider,
        "model": candidate.model,
        "reason": candidate.reason,
        "quote": dataclasses.asdict(candidate.quote),
        "endpoint": target.endpoint,
        "timeout_seconds": target.timeout_seconds,
        "max_retries": target.max_retries,
    }


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:  # another disk, or one without hard links
        shutil.copyfile(source, target)


def _kept_images(folder: Path, listed: list[dict[str, Any]] | int) -> list[ImageFile]:
    """The kept images, each still the one the provider sent (its size, then its SHA-256, read in pieces).
    An answer kept before sizes and hashes were recorded lists only how many images it has."""
    if isinstance(listed, int):
        return [_measured(folder / f"image-{index}.png") for index in range(listed)]
    images = [_measured(folder / f"image-{index}.png") for index in range(len(listed))]
    for image, kept in zip(images, listed, strict=True):
        if (image.size, image.sha256) != (kept["size"], kept["sha256"]):
            raise ValueError(f"{image.path.name} is not the image that was kept")
    return images


def _measured(path: Path) -> ImageFile:
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        return ImageFile(path, os.fstat(handle.fileno()).st_size, digest)


def _outcome(record: dict[str, Any], images: list[ImageFile]) -> Outcome:
    usage = record["usage"]
    return Outcome(
        candidate=_candidate(record["candidate"]),
        result=ImageResult(
            images=images,
            revised_prompt=record["revised_prompt"],
            safety=record["safety"],
            is_nsfw=record["is_nsfw"],
            latency_ms=record["latency_ms"],
            usage=TokenUsage(**usage) if usage else None,
            processed_in=record.get("processed_in"),
        ),
        retries=record["retries"],
        fallback_from=_candidate(record["fallback_from"]) if record["fallback_from"] else None,
        failures=list(record["failures"]),
    )


def _candidate(record: dict[str, Any]) -> Candidate:
    target = ProviderTarget(  # no credential: the call it was for is over
        provider=record["provider"],
        model=record["model"],
        endpoint=record["endpoint"],
        timeout_seconds=record["timeout_seconds"],
        max_retries=record["max_retries"],
    )
    return Candidate(record["provider"], record["model"], target, _quote(record["quote"]), record["reason"])


def _quote(record: dict[str, Any]) -> Quote:
    # a token-priced quote's prices are settled from: they come back as the type settlement reads
    prices = record.get("token_prices")
    return Quote(**{**record, "token_prices": TokenPrices(**prices) if prices else None})


def _encode(value: object) -> object:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot keep a {type(value).__name__}")


def _decode(value: dict[str, Any]) -> object:
    if value.keys() == {"$decimal"}:
        return Decimal(value["$decimal"])
    if value.keys() == {"$date"}:
        return date.fromisoformat(value["$date"])
    return value
