"""What the worker asks a provider: the request in the admitted model's words, and who is asking.

* Quality: a request may use a word the model's family maps (``hd`` is ``high`` on gpt-image); it is sent
  in the admitted model's own word, and a fallback that does not accept that word is not tried (it would
  only refuse the request).
* ``end_user``: providers ask for a stable per-person id to attribute abuse to (OpenAI's ``user``). We send
  ``SHA-256("donatello-end-user:v1:<organization id>:<user id>")`` as hex: stable across restarts and key
  rotation (a keyed HMAC would change with the key and need the key in every worker), different for the
  same person in two organizations, and not reversible — the ids are random UUIDs (122 random bits), so
  there is no dictionary to try, and neither e-mail address nor name goes into it. An operator told by the
  provider about an id finds the person by hashing the organization's users the same way.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections.abc import Sequence

from donatello.generations.admission import prompt_context
from donatello.generations.job import Job
from donatello.providers import Candidate, ImageRequest
from donatello.providers.families import family_of
from donatello.sealing import PromptSealer


async def asked_of(job: Job, sealer: PromptSealer) -> ImageRequest:
    """The request a job makes, its prompt unsealed only now, in the worker."""
    secret = json.loads(
        await sealer.open(job.prompt_envelope, context=prompt_context(job.organization_id, job.id))
    )
    return ImageRequest(
        prompt=secret["prompt"],
        negative_prompt=secret["negative_prompt"],
        size=job.size,
        quality=job.quality,
        style=job.details.get("style"),
        n=job.n,
        seed=job.details.get("seed"),
        end_user=end_user_id(job.organization_id, job.user_id),
    )


def end_user_id(organization_id: uuid.UUID, user_id: uuid.UUID) -> str:
    return hashlib.sha256(f"donatello-end-user:v1:{organization_id}:{user_id}".encode()).hexdigest()


def in_admitted_words(
    request: ImageRequest, options: Sequence[Candidate]
) -> tuple[ImageRequest, list[Candidate]]:
    """The request with its quality in the first candidate's word, and the candidates that accept it."""
    if not options:
        return request, []
    first, *fallbacks = options
    family = family_of(first.provider, first.target.configuration)
    quality = family.quality(request.quality) if family is not None else request.quality
    return dataclasses.replace(request, quality=quality), [
        first,
        *[option for option in fallbacks if _accepts(option, quality)],
    ]


def _accepts(option: Candidate, quality: str) -> bool:
    family = family_of(option.provider, option.target.configuration)
    return family is not None and family.accepts_quality(quality)
