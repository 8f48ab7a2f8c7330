"""A provider's answer kept until its images are stored: its images are the files that arrived (linked,
not copied, on one disk), and a kept image that is no longer what the provider sent is not stored."""

from __future__ import annotations

import json
import os
import time
import uuid
from decimal import Decimal
from pathlib import Path

from donatello.generations.kept import OUTCOME, KeptResults
from donatello.pricing.service import Quote
from donatello.providers import Candidate, ImageResult, Outcome, ProviderTarget, arriving_in
from donatello.providers.image_bytes import arrived

PICTURES = [b"\x89PNG\r\n\x1a\n first picture", b"\x89PNG\r\n\x1a\n second picture"]


def _outcome(kept: KeptResults) -> Outcome:
    target = ProviderTarget("local", "pillow", "local://pillow", 30.0, 0)
    quote = Quote(
        "local", "pillow", "1024x1024", "standard", 2, Decimal("0.05"), Decimal("0.10"), "AUD",
        Decimal("0.05"), Decimal(1), None, None,
    )  # fmt: skip
    with arriving_in(kept.arrivals):
        images = [arrived(picture) for picture in PICTURES]
    result = ImageResult(images, None, None, False, 10)
    return Outcome(Candidate("local", "pillow", target, quote, "cheapest"), result, 0, None, [])


def test_a_kept_answer_links_the_files_that_arrived_and_reads_back_the_same_images(tmp_path: Path) -> None:
    kept, generation = KeptResults(tmp_path), uuid.uuid4()
    outcome = _outcome(kept)

    assert kept.keep(generation, outcome)

    first = outcome.result.images[0]
    assert (tmp_path / str(generation) / "image-0.png").stat().st_ino == first.path.stat().st_ino
    again = kept.kept(generation)
    assert again is not None
    assert [image.read_bytes() for image in again.result.images] == PICTURES
    assert [image.sha256 for image in again.result.images] == [i.sha256 for i in outcome.result.images]


def test_the_arrived_files_go_when_nothing_refers_to_them_and_the_kept_ones_stay(tmp_path: Path) -> None:
    kept, generation = KeptResults(tmp_path), uuid.uuid4()
    outcome = _outcome(kept)
    kept.keep(generation, outcome)

    del outcome

    assert list(kept.arrivals.iterdir()) == []
    again = kept.kept(generation)
    assert again is not None and [image.read_bytes() for image in again.result.images] == PICTURES


def test_a_kept_image_that_changed_on_disk_makes_the_answer_unreadable(tmp_path: Path) -> None:
    kept, generation = KeptResults(tmp_path), uuid.uuid4()
    kept.keep(generation, _outcome(kept))
    damaged = tmp_path / str(generation) / "image-1.png"
    damaged.unlink()  # (a write in place would change the arrived file too: they are one file)
    damaged.write_bytes(PICTURES[1][:-1] + b"?")  # same size, other bytes

    assert kept.kept(generation) is None
    assert kept.has(generation)  # still there: an operator can look at it


def test_an_answer_kept_before_sizes_and_hashes_were_recorded_is_still_read(tmp_path: Path) -> None:
    kept, generation = KeptResults(tmp_path), uuid.uuid4()
    kept.keep(generation, _outcome(kept))
    record_path = tmp_path / str(generation) / OUTCOME
    record = json.loads(record_path.read_text())
    record["images"] = len(record["images"])  # the earlier layout: how many, nothing more
    record_path.write_text(json.dumps(record))

    again = kept.kept(generation)

    assert again is not None and [image.read_bytes() for image in again.result.images] == PICTURES


def test_files_a_killed_worker_left_arriving_are_swept_and_fresh_ones_are_not(tmp_path: Path) -> None:
    kept = KeptResults(tmp_path)
    kept.arrivals.mkdir()
    left, arriving = kept.arrivals / ".arriving-left.img", kept.arrivals / ".arriving-now.img"
    left.write_bytes(b"half an image")
    arriving.write_bytes(b"an image arriving")
    two_hours_ago = time.time() - 2 * 3600
    os.utime(left, (two_hours_ago, two_hours_ago))

    assert kept.sweep_arrivals() == 1

    assert sorted(path.name for path in kept.arrivals.iterdir()) == [".arriving-now.img"]
    assert KeptResults(tmp_path / "never-used").sweep_arrivals() == 0
