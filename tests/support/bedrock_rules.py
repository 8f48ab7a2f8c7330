"""What Amazon Bedrock's InvokeModel refuses, and how it says so — the Bedrock stub's rule book.

Sources (public; the shapes, not copied text):

* SigV4: the AWS General Reference "Create a signed AWS API request" (canonical request, string to
  sign, the derived signing key; for services other than S3 the path is URI-encoded once more), and
  Bedrock's signing name ``bedrock`` (botocore ``data/bedrock-runtime/*/service-2.json``: ``signingName``);
  the errors ``UnrecognizedClientException`` ("The security token included in the request is invalid."),
  ``InvalidSignatureException`` ("The request signature we calculated does not match …"),
  ``AccessDeniedException``, ``ThrottlingException``, ``ValidationException``, each named in the
  ``x-amzn-ErrorType`` header with ``{"message": …}`` as the body (the runtime's REST-JSON protocol);
* Nova Canvas: the Amazon Nova user guide, "Request and response structure for image generation"
  (``TEXT_IMAGE``: ``text`` and ``negativeText`` 1-1024 characters, ``style``; ``imageGenerationConfig``:
  ``numberOfImages`` 1-5, ``width``/``height`` 320-4096 in steps of 16, at most 4,194,304 pixels and an
  aspect ratio within 1:4-4:1, ``quality`` standard|premium, ``cfgScale`` 1.1-10, ``seed``
  0-858,993,459) and its content-filter refusals ("blocked by our content filters");
* Stability on Bedrock: the Bedrock user guide's Stable Image Core / SD3.5 Large request and response
  pages (``prompt``, ``negative_prompt`` up to 10,000 characters, ``seed`` 0-4,294,967,294,
  ``aspect_ratio`` of nine ratios, ``output_format`` jpeg|png|webp, ``mode`` for SD3.5; the response's
  ``seeds``, ``finish_reasons`` (null, ``Filter reason: prompt``, ``Filter reason: output image``) and
  ``images``); schema violations as "Malformed input request: #/…: …, please reformat your input and
  try again." (Bedrock's ``ValidationException`` for a native body).
"""

from __future__ import annotations

from typing import Any

NOVA = "nova-canvas"
STABILITY_CORE = "stability-core"
SD3 = "sd3"
NOVA_STYLES = (
    "3D_ANIMATED_FAMILY_FILM",
    "DESIGN_SKETCH",
    "FLAT_VECTOR_ILLUSTRATION",
    "GRAPHIC_NOVEL_ILLUSTRATION",
    "MAXIMALISM",
    "MIDCENTURY_RETRO",
    "PHOTOREALISM",
    "SOFT_DIGITAL_PAINTING",
)
ASPECT_RATIOS = ("16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21")
PROMPT_BLOCKED = (
    "This request has been blocked by our content filters. Our filters automatically flagged this prompt "
    "because it may conflict our AUP or AWS Responsible AI Policy. Please adjust your text prompt to "
    "submit a new request."
)
OUTPUT_BLOCKED = (
    "The generated image has been blocked by our content filters. Please adjust your request and try again."
)
BAD_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. Check your AWS "
    "Secret Access Key and signing method. Consult the service documentation for details."
)
UNKNOWN_KEY = "The security token included in the request is invalid."
NO_ACCESS = "You don't have access to the model with the specified model ID."


def malformed(path: str, problem: str) -> str:
    return f"Malformed input request: #{path}: {problem}, please reformat your input and try again."


def refusal(family: str, body: object) -> str | None:
    """The ``ValidationException`` message for this native body, or None when the model accepts it."""
    if not isinstance(body, dict):
        return malformed("", "expected type: JSONObject")
    if family == NOVA:
        return _nova(body)
    return _stability(body, allow_mode=family == SD3)


def _nova(body: dict[str, Any]) -> str | None:
    if (extra := _extraneous(body, {"taskType", "textToImageParams", "imageGenerationConfig"})) is not None:
        return malformed("", f"extraneous key [{extra}] is not permitted")
    if body.get("taskType") != "TEXT_IMAGE":
        return malformed("/taskType", f"{body.get('taskType')} is not a valid enum value")
    text = body.get("textToImageParams")
    if not isinstance(text, dict):
        return malformed("/textToImageParams", "required key [textToImageParams] not found")
    if (extra := _extraneous(text, {"text", "negativeText", "style"})) is not None:
        return malformed("/textToImageParams", f"extraneous key [{extra}] is not permitted")
    for key in ("text", "negativeText"):
        if key == "text" or key in text:
            value = text.get(key)
            if not isinstance(value, str) or not 1 <= len(value) <= 1024:
                return malformed(f"/textToImageParams/{key}", "expected a string of 1-1024 characters")
    if "style" in text and text["style"] not in NOVA_STYLES:
        return malformed("/textToImageParams/style", f"{text['style']} is not a valid enum value")
    config = body.get("imageGenerationConfig", {})
    if not isinstance(config, dict):
        return malformed("/imageGenerationConfig", "expected type: JSONObject")
    allowed = {"numberOfImages", "width", "height", "quality", "cfgScale", "seed"}
    if (extra := _extraneous(config, allowed)) is not None:
        return malformed("/imageGenerationConfig", f"extraneous key [{extra}] is not permitted")
    for key, low, high in (("numberOfImages", 1, 5), ("width", 320, 4096), ("height", 320, 4096)):
        if key in config and not _integer_within(config[key], low, high):
            return malformed(f"/imageGenerationConfig/{key}", f"{config[key]} is not within {low}-{high}")
    if "seed" in config and not _integer_within(config["seed"], 0, 858_993_459):
        return malformed("/imageGenerationConfig/seed", f"{config['seed']} is not less or equal to 858993459")
    width, height = config.get("width", 1024), config.get("height", 1024)
    if width % 16 or height % 16:
        return "The width and height must be divisible by 16."
    if width * height > 4_194_304 or not 0.25 <= width / height <= 4:
        return "The image size is not supported: at most 4,194,304 pixels, aspect ratio between 1:4 and 4:1."
    if config.get("quality", "standard") not in ("standard", "premium"):
        return malformed("/imageGenerationConfig/quality", f"{config['quality']} is not a valid enum value")
    scale = config.get("cfgScale", 6.5)
    if not isinstance(scale, int | float) or isinstance(scale, bool) or not 1.1 <= scale <= 10:
        return malformed("/imageGenerationConfig/cfgScale", f"{scale} is not within 1.1-10")
    return None


def _stability(body: dict[str, Any], *, allow_mode: bool) -> str | None:
    allowed = {"prompt", "negative_prompt", "seed", "aspect_ratio", "output_format"} | (
        {"mode"} if allow_mode else set()
    )
    if (extra := _extraneous(body, allowed)) is not None:
        return malformed("", f"extraneous key [{extra}] is not permitted")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not 0 < len(prompt) <= 10_000:
        return malformed("/prompt", "expected a string of 1-10000 characters")
    negative = body.get("negative_prompt")
    if negative is not None and (not isinstance(negative, str) or len(negative) > 10_000):
        return malformed("/negative_prompt", "expected a string of up to 10000 characters")
    if "seed" in body and not _integer_within(body["seed"], 0, 4_294_967_294):
        return malformed("/seed", f"{body['seed']} is not less or equal to 4294967294")
    if body.get("aspect_ratio", "1:1") not in ASPECT_RATIOS:
        return malformed("/aspect_ratio", f"{body['aspect_ratio']} is not a valid enum value")
    if body.get("output_format", "png") not in ("jpeg", "png", "webp"):
        return malformed("/output_format", f"{body['output_format']} is not a valid enum value")
    if body.get("mode", "text-to-image") != "text-to-image":
        return malformed("/mode", "text-to-image needs no image; image-to-image needs one")
    return None


def _extraneous(given: dict[str, Any], allowed: set[str]) -> str | None:
    return next((key for key in given if key not in allowed), None)


def _integer_within(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
