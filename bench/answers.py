"""Reading a provider's answer as it arrives against reading it whole, on one ~3 MiB image answer.

The baseline is the way answers were read before: the whole body, ``json.loads``, ``base64.b64decode``
(validating), the image written to a file. Streamed: the same body fed in 64 KiB pieces (what a socket read
gives) to ``AnswerReader``, the image decoded into its file on the way. Both in the same run, each repeated;
reported as the ratio of CPU time per answer and of peak Python memory per answer (``tracemalloc``).
No network: what differs is the reading, not the transport.
"""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from tests.support.azure_openai_stub import image_answer
from tests.support.large_images import noise_png

from donatello.providers.answer_stream import AnswerReader
from donatello.providers.image_bytes import arriving_in

PIECE = 64 * 1024
ROUNDS = 15


def whole(body: bytes, directory: Path) -> None:
    payload = json.loads(body)
    image = base64.b64decode(payload["data"][0]["b64_json"], validate=True)
    (directory / "image.png").write_bytes(image)


def streamed(body: bytes, directory: Path) -> None:
    with arriving_in(directory):
        reader = AnswerReader(frozenset({"b64_json"}))
        view = memoryview(body)
        for start in range(0, len(body), PIECE):
            reader.feed(bytes(view[start : start + PIECE]))
        payload = reader.finish()
        image = reader.images[payload["data"][0]["b64_json"]]
        assert not isinstance(image, str), image


def measure(read: Callable[[bytes, Path], None], body: bytes, directory: Path) -> tuple[float, float]:
    """Median CPU seconds per answer, and the peak of Python memory above the start while reading one."""
    cpu = []
    for _ in range(ROUNDS):
        started = time.process_time()
        read(body, directory)
        cpu.append(time.process_time() - started)
    tracemalloc.start()
    read(body, directory)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return statistics.median(cpu), peak


def main() -> None:
    image = noise_png()
    body = image_answer(image).raw
    assert body is not None
    with tempfile.TemporaryDirectory(prefix="donatello-bench-answers-") as scratch:
        directory = Path(scratch)
        whole_cpu, whole_peak = measure(whole, body, directory)
        streamed_cpu, streamed_peak = measure(streamed, body, directory)
    mib = 2**20
    print(f"answer: {len(body) / mib:.1f} MiB of JSON around a {len(image) / mib:.1f} MiB PNG")
    print(f"read whole (baseline): {whole_cpu * 1000:.1f} ms CPU, peak {whole_peak / mib:.1f} MiB")
    print(f"read as it arrives:    {streamed_cpu * 1000:.1f} ms CPU, peak {streamed_peak / mib:.2f} MiB")
    print(f"CPU ratio (streamed / whole): {streamed_cpu / whole_cpu:.2f}")
    print(f"memory ratio (streamed / whole): {streamed_peak / whole_peak:.3f}")


if __name__ == "__main__":
    main()
