from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime
from typing import Annotated, Literal, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from donatello.core.money import Money

# The union of what the model families offer (providers/families.py); whether the chosen model offers a
# value is checked against that model when the request is admitted (422 ``unsupported-option``).
Size = Literal["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536", "auto"]
LISTED_SIZES: tuple[str, ...] = get_args(Size)


def _multiple_of_16(size: str) -> str:
    if any(int(side) % 16 for side in size.split("x")):
        raise ValueError("a size other than the listed ones is WIDTHxHEIGHT in multiples of 16")
    return size


# Models with free sizes (FLUX.2) take any WIDTHxHEIGHT in multiples of 16 within their own bounds.
FreeSize = Annotated[
    str, StringConstraints(pattern=r"^[1-9][0-9]{1,3}x[1-9][0-9]{1,3}$"), AfterValidator(_multiple_of_16)
]
# gpt-image's own words, and the older ``standard``/``hd`` (``medium``/``high`` on gpt-image).
Quality = Literal["standard", "hd", "low", "medium", "high", "auto"]
Style = Literal["vivid", "natural"]
Status = Literal["pending", "processing", "completed", "failed", "cancelled"]
#: how a generation's charge was worked out (see ``GenerationRead.charge_basis``)
ChargeBasis = Literal["per-image", "usage", "usage-capped-at-hold", "hold-usage-missing"]
Prompt = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=4000)]
NegativePrompt = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]


class GenerationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: Prompt
    negative_prompt: NegativePrompt | None = None
    model: Annotated[str, Field(min_length=1, max_length=151, description='"auto" or "provider/model"')] = (
        "auto"
    )
    size: Annotated[
        Size | FreeSize,
        Field(
            description="One of the listed sizes or, for a model with free sizes (FLUX.2), any WIDTHxHEIGHT "
            "in multiples of 16 within the model's bounds"
        ),
    ] = "1024x1024"
    quality: Quality = "standard"
    style: Style | None = None
    n: Annotated[int, Field(ge=1, le=4)] = 1
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    priority: Annotated[int, Field(ge=0, le=9, description="0 is most urgent")] = 5

    def fingerprint(self) -> str:
        """SHA-256 of the canonical request: the same body always gives the same fingerprint."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()


class BatchCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: Annotated[list[GenerationCreate], Field(min_length=1)]

    def fingerprint(self) -> str:
        return hashlib.sha256("".join(item.fingerprint() for item in self.items).encode()).hexdigest()


class ContentFilterRead(BaseModel):
    stage: Literal["prompt", "output"] = Field(
        description="prompt: refused before anything was made; output: a generated image was refused"
    )
    categories: list[str] = Field(description='The provider\'s reasons, e.g. ["violence"]; never the prompt')


class MeteredUsageRead(BaseModel):
    """What the provider's bill says a call used (models priced per token meter every call)."""

    input_text_tokens: int = Field(description="Tokens of the prompt (and its framing) the provider billed")
    input_image_tokens: int = Field(description="Tokens of input images the provider billed (0: none sent)")
    output_image_tokens: int = Field(description="Image tokens the provider billed for the images it made")


class ProviderCallRead(BaseModel):
    """One call to a provider made for the generation (the reconciliation of an invoice counts them)."""

    started_at: datetime = Field(description="When it was sent")
    model: str = Field(description="provider/model called (the one that answered, when a fallback did)")
    outcome: str | None = Field(
        description="answered, refused, failed; lost (the worker died mid-call) or abandoned (the worker "
        "lost its lease mid-call); null while in flight"
    )
    possibly_billed: bool = Field(
        description="Sent, and no answer recorded: the provider may have billed it though no image came "
        "of it. The generation itself is charged once, whatever its calls"
    )


class GenerationRead(BaseModel):
    id: uuid.UUID
    user_id: uuid.UUID = Field(description="Who asked for it (a department's list shows who made what)")
    status: Status
    model_provider: str
    model_name: str
    requested_model: str | None = Field(
        description='What the request asked for: "auto" or "provider/model" (null for rows made before it '
        "was recorded)"
    )
    model: str = Field(
        description="provider/model that made the images, or that will be called first while pending"
    )
    selection_reason: str | None = Field(
        description='Why admission chose the model: "requested", "platform-priority", "user-default: …", …'
    )
    fallback_from: str | None = Field(
        description="The model admitted first, when it failed and a fallback priced no higher made the images"
    )
    fallback_reason: str | None = Field(
        description="Why the models tried before the one used failed (provider/model: reason; …)"
    )
    size: str
    quality: str
    n: int
    batch_id: uuid.UUID | None
    image_urls: list[str]
    thumbnail_urls: list[str]
    reserved_aud: Money
    cost_aud: Money
    is_over_budget: bool
    is_nsfw: bool
    error_message: str | None
    content_filter: ContentFilterRead | None = Field(
        description="Set when the provider's safety system refused the request: final, nothing charged"
    )
    usage: MeteredUsageRead | None = Field(
        description="What the provider metered for the images (token-priced models); null when it reported "
        "nothing, before the images are made, and for models that do not meter"
    )
    charge_basis: ChargeBasis | None = Field(
        description="How cost_aud was worked out, once charged (the exports' charge_basis says the same): "
        "per-image (the model's price per image); usage (the provider's metered tokens at the model's "
        "token prices, converted to AUD at the quote's rate); usage-capped-at-hold (the usage came to "
        "more than the hold: the hold was charged); hold-usage-missing (a token-priced answer without "
        "usage: the hold, the most the request could cost, was charged). Null until charged"
    )
    processed_in: str | None = Field(
        default=None,
        description="ISO 3166-1 alpha-2 country where the model processed the request (the provider's own "
        "region header where it sends one, else the model's processing_country); null: not known — the "
        "model may process anywhere — or not yet made",
    )
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    generation_time_ms: int | None
    queue_position: int | None = Field(
        default=None,
        description="While pending: its place in the queue, 1 being the next claimed. The queue serves "
        "priorities in order and, within one, departments in turn and people in turn within a department, "
        "so a big batch queued earlier does not put a single request behind all of it. Null otherwise",
    )
    saving: bool = Field(
        default=False,
        description="The provider has answered and its images are being stored (retried while the image "
        "store fails, never asking the provider again)",
    )
    provider_calls: list[ProviderCallRead] = Field(
        default_factory=list,
        description="Every call made to a provider for it, oldest first (on a single generation's read; "
        "empty in lists)",
    )
    estimated_start_at: datetime | None = Field(
        default=None,
        description="While pending: when it should start, from its model's quota (calls per rolling "
        "window already made and those ahead of it), the calls in flight and how long they take lately, "
        "and any cool-down the provider asked for. An estimate that assumes nobody joins ahead; null "
        "once running or finished",
    )


class BatchRead(BaseModel):
    id: uuid.UUID
    total: int
    pending: int
    processing: int
    completed: int
    failed: int
    cancelled: int
    done: bool
    progress_percent: Money
    reserved_aud: Money
    created_at: datetime
    generation_ids: list[uuid.UUID]


class PromptRead(BaseModel):
    generation_id: uuid.UUID
    prompt: str
    negative_prompt: str | None


class PromptHistoryItem(BaseModel):
    generation_id: uuid.UUID
    prompt: str
    model: str
    status: Status
    created_at: datetime


class UsageStats(BaseModel):
    total: int
    completed: int
    failed: int
    cancelled: int
    in_progress: int
    images: int
    average_generation_ms: int | None
    spend_aud: Money
