"""What the Azure OpenAI images API refuses, and the bodies it refuses with — the stub's rule book.

Sources (public; the shapes, not copied text):

* parameters per model, their allowed values, ``n`` and prompt limits: openai/openai-python
  ``src/openai/types/image_generate_params.py`` (gpt-image: prompt <= 32000 chars, n 1-10, sizes
  1024x1024|1536x1024|1024x1536|auto, quality low|medium|high|auto, output_format, output_compression 0-100,
  background, moderation low|auto; ``response_format`` and ``style`` are DALL-E only; dall-e-3: prompt
  <= 4000 chars, n=1, sizes 1024x1024|1792x1024|1024x1792, quality standard|hd, style vivid|natural);
* Azure specifics: MicrosoftDocs/azure-ai-docs ``articles/ai-foundry/openai/how-to/dall-e.md`` (the
  deployments URL with ``api-version`` such as ``2025-04-01-preview`` for gpt-image, ``api-key`` header,
  gpt-image answers base64 only, WEBP is not supported on Azure, ``response_format`` is refused by
  gpt-image);
* safety refusals: azure-ai-docs ``articles/ai-foundry/openai/concepts/content-filter.md`` (``innererror``
  ``ResponsibleAIPolicyViolation`` with per-category ``filtered``/``severity``), BerriAI/litellm
  ``tests/test_litellm/llms/azure/test_azure_exception_mapping.py`` (the images API's
  ``content_policy_violation`` with ``inner_error.content_filter_results`` and ``revised_prompt``);
* retry headers (``x-should-retry``, ``retry-after-ms``, ``retry-after``): openai-python
  ``src/openai/_base_client.py``;
* the error envelope ``{"error": {"message", "type", "param", "code"}}`` with ``unknown_parameter`` /
  ``invalid_value`` / ``integer_above_max_value`` / ``string_above_max_length`` codes is OpenAI's
  invalid-request shape (as its SDK's ``BadRequestError`` bodies show); Azure's own errors carry
  ``{"error": {"code", "message"}}`` (``401``, ``PermissionDenied``, ``DeploymentNotFound``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

GPT_IMAGE = "gpt-image"
DALL_E_3 = "dall-e-3"
#: api-version values the deployments path accepts, and the first one that serves gpt-image
API_VERSIONS = ("2024-02-01", "2024-10-21", "2025-04-01-preview", "2025-10-01-preview")
FIRST_GPT_IMAGE_API_VERSION = "2025-04-01-preview"


@dataclass(frozen=True)
class Rules:
    parameters: frozenset[str]
    choices: dict[str, tuple[str, ...]]
    max_n: int
    max_prompt: int


RULES = {
    GPT_IMAGE: Rules(
        parameters=frozenset(
            {
                "prompt",
                "model",
                "n",
                "size",
                "quality",
                "output_format",
                "output_compression",
                "background",
                "moderation",
                "user",
                "stream",
                "partial_images",
            }
        ),
        choices={
            "size": ("1024x1024", "1536x1024", "1024x1536", "auto"),
            "quality": ("low", "medium", "high", "auto"),
            "output_format": ("png", "jpeg"),  # Azure: "WEBP images aren't supported"
            "background": ("transparent", "opaque", "auto"),
            "moderation": ("low", "auto"),
        },
        max_n=10,
        max_prompt=32000,
    ),
    DALL_E_3: Rules(
        parameters=frozenset({"prompt", "model", "n", "size", "quality", "style", "response_format", "user"}),
        choices={
            "size": ("1024x1024", "1792x1024", "1024x1792"),
            "quality": ("standard", "hd"),
            "style": ("vivid", "natural"),
            "response_format": ("url", "b64_json"),
        },
        max_n=1,
        max_prompt=4000,
    ),
}


def invalid_request(message: str, param: str | None, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}


def refusal(family: str, body: object) -> dict[str, Any] | None:
    """The 400 body the service answers this request body with, or None when it accepts it."""
    if not isinstance(body, dict):
        return invalid_request("We could not parse the JSON body of your request.", None, "invalid_json")
    rules = RULES[family]
    for name in body:
        if name not in rules.parameters:
            return invalid_request(f"Unknown parameter: '{name}'.", name, "unknown_parameter")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt:
        return invalid_request(
            "Missing required parameter: 'prompt'.", "prompt", "missing_required_parameter"
        )
    if len(prompt) > rules.max_prompt:
        return invalid_request(
            f"Invalid 'prompt': string too long. Expected a string with maximum length {rules.max_prompt}, "
            f"but got a string with length {len(prompt)} instead.",
            "prompt",
            "string_above_max_length",
        )
    n = body.get("n", 1)
    if not isinstance(n, int) or isinstance(n, bool):
        return invalid_request(
            f"Invalid type for 'n': expected an integer, but got {type(n).__name__}.", "n", "invalid_type"
        )
    if n < 1:
        return invalid_request(
            f"Invalid 'n': integer below minimum value. Expected a value >= 1, but got {n} instead.",
            "n",
            "integer_below_min_value",
        )
    if n > rules.max_n:
        return invalid_request(
            f"Invalid 'n': integer above maximum value. Expected a value <= {rules.max_n}, but got {n} instead.",
            "n",
            "integer_above_max_value",
        )
    for name, allowed in rules.choices.items():
        if name in body and body[name] not in allowed:
            listed = ", ".join(f"'{value}'" for value in allowed[:-1]) + f", and '{allowed[-1]}'"
            return invalid_request(
                f"Invalid value: '{body[name]}'. Supported values are: {listed}.", name, "invalid_value"
            )
    compression = body.get("output_compression")
    if compression is not None and (
        not isinstance(compression, int) or isinstance(compression, bool) or not 0 <= compression <= 100
    ):
        return invalid_request(
            f"Invalid 'output_compression': expected an integer between 0 and 100, got {compression!r}.",
            "output_compression",
            "invalid_value",
        )
    if "user" in body and not isinstance(body["user"], str):
        return invalid_request("Invalid type for 'user': expected a string.", "user", "invalid_type")
    return None


def api_version_refusal(family: str, version: str | None) -> dict[str, Any] | None:
    """Azure's 400 for the deployments path without a usable ``api-version``."""
    if not version:
        return {
            "error": {
                "code": "BadRequest",
                "message": "Missing required query parameter 'api-version'.",
            }
        }
    if version not in API_VERSIONS or (
        family == GPT_IMAGE and API_VERSIONS.index(version) < API_VERSIONS.index(FIRST_GPT_IMAGE_API_VERSION)
    ):
        return {"error": {"code": "BadRequest", "message": "API version not supported"}}
    return None


INVALID_KEY = {
    "error": {
        "code": "401",
        "message": "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide "
        "a valid key for an active subscription and use a correct regional API endpoint for your resource.",
    }
}
PERMISSION_DENIED = {
    "error": {"code": "PermissionDenied", "message": "Principal does not have access to API/Operation."}
}
DEPLOYMENT_NOT_FOUND = {
    "error": {
        "code": "DeploymentNotFound",
        "message": "The API deployment for this resource does not exist. If you created the deployment within "
        "the last 5 minutes, please wait a moment and try again.",
    }
}
