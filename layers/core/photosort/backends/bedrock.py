"""Amazon Bedrock backend: a multimodal model (Amazon Nova Lite by default) labels the photo zero-shot.

The call is Bedrock Runtime ``Converse`` with one tool, ``record_labels``, and ``toolChoice`` forcing it, so
the model answers with JSON that matches a schema instead of prose. The schema's label field is an ``enum``
of the rules document's own vocabulary (every label the rules match on, see :func:`vocabulary`): the model
is asked only the question the rules can use.

Confidence. A language model gives no calibrated probability, so the schema asks for a stated certainty per
label, one of ``certain``, ``likely``, ``possible``, mapped to a fixed confidence (:data:`CERTAINTY`):
95, 75 and 40. The thresholds then work as for the other backends: the family preset's default of 50 takes
``likely`` and ``certain``, its ``people`` rule (80) only ``certain``; ``possible`` labels are recorded but
route nowhere unless a rule asks for 40 or less.

Errors, by what the workflow should do:

* throttling and transient capacity (``ThrottlingException``, ``ServiceQuotaExceededException``,
  ``ModelNotReadyException``, ``ServiceUnavailableException``, ``InternalServerException``,
  ``ModelTimeoutException``) -> :class:`~photosort.errors.BackendThrottledError`, retried with backoff;
* the content filter or a guardrail refused (``stopReason`` ``content_filtered``/``guardrail_intervened``),
  or request validation refused the image -> :class:`~photosort.errors.ImageUnusableError` with reason
  ``ContentFiltered`` / ``ImageRefused``: the photo goes to rejected/ with that reason;
* the model answered badly (no tool call, a truncated or malformed answer, a label outside the vocabulary,
  an unknown certainty) -> :class:`~photosort.errors.BackendAnswerError`: failed/, never a silent label;
* a model id that is wrong, not enabled, or not allowed -> :class:`~photosort.errors.BackendUnavailableError`
  naming the fix.

The image goes as bytes (default: exactly the bytes Inspect hashed, converted to JPEG when the format or
size needs it) or as an S3 location (``image_source="s3"``: Bedrock reads the object with the function's
own permission; no bytes through the Lambda, but S3 locations carry no version id).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from botocore.exceptions import ClientError

from photosort import constants as env
from photosort.backends._aws_errors import ACCESS_DENIED_CODES, error_code, error_message, map_client_error
from photosort.backends._aws_images import MB, ImageLimits, fit_jpeg, usable_as_is
from photosort.backends.base import ImageInput
from photosort.errors import (
    BackendAnswerError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
)
from photosort.models import BackendLimits, Classification, Label, RejectionReason
from photosort.routing import RuleSet

logger = logging.getLogger(__name__)

DEFAULT_MODEL_ID = "amazon.nova-lite-v1:0"
TOOL_NAME = "record_labels"
CERTAINTY = {"certain": 95.0, "likely": 75.0, "possible": 40.0}
MAX_OUTPUT_TOKENS = 400  # ~10 tokens per label: room for the whole vocabulary of a large rules file
_ACTION = "bedrock:InvokeModel"

# Converse: an image up to 3.75 MB inline and 8,000 px a side (Bedrock user guide, Converse API, ImageBlock;
# Amazon Nova user guide, "Image understanding"); by S3 location Nova reads larger objects, but keep to the
# inline limit so both sources see the same image.
CONVERSE_IMAGE = ImageLimits(
    max_object_bytes=int(3.75 * MB), max_inline_bytes=int(3.75 * MB), min_side=1, max_side=8000
)
_FORMATS = {"JPEG": "jpeg", "PNG": "png", "GIF": "gif", "WEBP": "webp"}

THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "ServiceQuotaExceededException",  # tokens or requests per minute used up
        "ModelNotReadyException",  # the model is being loaded for you (the SDK also retries it)
        "ServiceUnavailableException",
        "InternalServerException",
        "ModelTimeoutException",
    }
)
_REFUSED = {"content_filtered", "guardrail_intervened"}
_MALFORMED = {"malformed_model_output", "malformed_tool_use", "max_tokens", "model_context_window_exceeded"}
_CONFIG_HINTS = ("model identifier", "model id", "on-demand throughput", "inference profile", "doesn't support")
_IMAGE_HINTS = ("image",)
_FILTER_HINTS = ("content filter", "blocked")  # Nova: "This request has been blocked by our content filters."


def vocabulary(rules: RuleSet) -> tuple[str, ...]:
    """Every label the rules match on, in file order, once each (case-insensitive, first spelling kept)."""
    seen: dict[str, str] = {}
    for rule in rules.rules:
        for label in rule.labels:
            seen.setdefault(label.casefold(), label)
    return tuple(seen.values())


def tool_config(labels: Sequence[str], max_labels: int) -> dict[str, Any]:
    """The one tool the model must call: a list of {label from the vocabulary, certainty}."""
    return {
        "tools": [
            {
                "toolSpec": {
                    "name": TOOL_NAME,
                    "description": "Record which of the allowed labels apply to the photo, each with a certainty.",
                    "inputSchema": {
                        "json": {
                            "type": "object",
                            "properties": {
                                "labels": {
                                    "type": "array",
                                    "maxItems": max_labels,
                                    "description": "Every allowed label that applies; an empty list if none do.",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "label": {"type": "string", "enum": list(labels)},
                                            "certainty": {"type": "string", "enum": list(CERTAINTY)},
                                        },
                                        "required": ["label", "certainty"],
                                    },
                                }
                            },
                            "required": ["labels"],
                        }
                    },
                }
            }
        ],
        "toolChoice": {"tool": {"name": TOOL_NAME}},
    }


SYSTEM_PROMPT = (
    "You label photos for a photo-sorting application. Look at the photo and decide which of the allowed "
    "labels describe what it shows. Use only the allowed labels, spelled exactly as given. For each label "
    "that applies, give a certainty: 'certain' when it is plainly visible, 'likely' when it probably applies, "
    f"'possible' when it might. Answer only by calling the {TOOL_NAME} tool; call it with an empty list when "
    "no allowed label applies."
)


def prompt(labels: Sequence[str]) -> str:
    return f"Allowed labels: {', '.join(labels)}. Which of them apply to this photo?"


def parse_answer(response: dict[str, Any], labels: Sequence[str], *, model_id: str) -> list[tuple[str, float]]:
    """(vocabulary label, confidence) pairs from a Converse response, best first; or raise a named error."""
    stop = response.get("stopReason")
    if stop in _REFUSED:
        raise ImageUnusableError(RejectionReason.CONTENT_FILTERED, f"{model_id} refused the image (stopReason {stop})")
    if stop in _MALFORMED:
        raise BackendAnswerError(f"{model_id} did not finish a usable answer (stopReason {stop})")
    content = response.get("output", {}).get("message", {}).get("content", [])
    calls = [block["toolUse"] for block in content if isinstance(block, dict) and "toolUse" in block]
    call = next((c for c in calls if c.get("name") == TOOL_NAME), None)
    if call is None:
        text = " ".join(str(b.get("text", "")) for b in content if isinstance(b, dict))[:200]
        raise BackendAnswerError(
            f"{model_id} answered without calling {TOOL_NAME} (stopReason {stop}): {text or '(no text)'}"
        )
    payload = call.get("input")
    items = payload.get("labels") if isinstance(payload, dict) else None
    if not isinstance(items, list):
        raise BackendAnswerError(f"{model_id} called {TOOL_NAME} without a labels list: {str(payload)[:200]}")
    spelling = {label.casefold(): label for label in labels}
    best: dict[str, float] = {}
    for item in items:
        name = item.get("label") if isinstance(item, dict) else None
        certainty = item.get("certainty") if isinstance(item, dict) else None
        if not isinstance(name, str) or name.strip().casefold() not in spelling:
            raise BackendAnswerError(
                f"{model_id} answered label {name!r}, which is not in the rules' vocabulary "
                f"({len(labels)} labels: {', '.join(labels[:8])}{', ...' if len(labels) > 8 else ''})"
            )
        if not isinstance(certainty, str) or certainty.strip().lower() not in CERTAINTY:
            raise BackendAnswerError(
                f"{model_id} gave {name!r} the certainty {certainty!r}; expected one of {list(CERTAINTY)}"
            )
        label = spelling[name.strip().casefold()]
        best[label] = max(best.get(label, 0.0), CERTAINTY[certainty.strip().lower()])
    order = {label: i for i, label in enumerate(labels)}
    return sorted(best.items(), key=lambda pair: (-pair[1], order[pair[0]]))


class BedrockClassifier:
    name = "bedrock"

    def __init__(
        self,
        client: Any,
        limits: BackendLimits,
        *,
        model_id: str,
        labels: Callable[[], Sequence[str]],
        image_source: str = "bytes",
    ) -> None:
        if image_source not in ("bytes", "s3"):
            raise ValueError(f"image_source must be 'bytes' or 's3', not {image_source!r}")
        self._client = client
        self._limits = limits
        self._model_id = model_id
        self._labels = labels
        self._image_source = image_source

    def _image_block(self, image: ImageInput) -> dict[str, Any]:
        fmt = _FORMATS.get(image.metadata.format)
        if self._image_source == "s3" and image.in_s3 and fmt and usable_as_is(image, CONVERSE_IMAGE, image.ref.size):
            return {"format": fmt, "source": {"s3Location": {"uri": f"s3://{image.ref.bucket}/{image.ref.key}"}}}
        data = image.read()
        limits = CONVERSE_IMAGE
        if fmt and usable_as_is(image, limits, len(data)) and len(data) <= limits.max_inline_bytes:
            return {"format": fmt, "source": {"bytes": data}}
        return {"format": "jpeg", "source": {"bytes": fit_jpeg(data, limits, max_pixels=self._limits.max_pixels)}}

    def _map_error(self, exc: ClientError) -> Exception:
        code, message = error_code(exc), error_message(exc)
        lowered = message.lower()
        if code in THROTTLE_CODES:
            return BackendThrottledError(f"Bedrock {self._model_id} is throttled or busy ({code}): {message}")
        if code in ACCESS_DENIED_CODES:
            return BackendUnavailableError(
                f"Bedrock {self._model_id} was denied ({code}): the caller needs {_ACTION} on the model (and on "
                "the inference profile when the id starts with a geography such as us.), and model access must "
                f"be granted in the Bedrock console for this account and region. {message}"
            )
        if code == "ResourceNotFoundException" or (
            code == "ValidationException" and any(hint in lowered for hint in _CONFIG_HINTS)
        ):
            return BackendUnavailableError(
                f"Bedrock model {self._model_id} cannot be used here ({code}: {message}). Check "
                f"{env.BEDROCK_MODEL_ID} and the region; a model that needs a cross-Region inference profile "
                "takes its id with the geography prefix, e.g. us.amazon.nova-lite-v1:0 (BedrockInferenceProfile)."
            )
        if code == "ValidationException" and any(hint in lowered for hint in _FILTER_HINTS):
            return ImageUnusableError(
                RejectionReason.CONTENT_FILTERED,
                f"Bedrock {self._model_id} content filter refused the image: {message}",
            )
        if code == "ValidationException" and any(hint in lowered for hint in _IMAGE_HINTS):
            return ImageUnusableError(
                RejectionReason.IMAGE_REFUSED, f"Bedrock {self._model_id} refused the image: {message}"
            )
        if code == "ModelErrorException":
            return BackendAnswerError(f"Bedrock {self._model_id} failed to answer ({code}): {message}")
        return map_client_error(exc, action=_ACTION)

    def classify(self, image: ImageInput) -> Classification:
        labels = tuple(self._labels())
        if not labels:
            raise BackendUnavailableError("the rules name no labels, so there is nothing to ask the model")
        request = {
            "modelId": self._model_id,
            "system": [{"text": SYSTEM_PROMPT}],
            "messages": [{"role": "user", "content": [{"image": self._image_block(image)}, {"text": prompt(labels)}]}],
            "toolConfig": tool_config(labels, self._limits.max_labels),
            "inferenceConfig": {"maxTokens": MAX_OUTPUT_TOKENS, "temperature": 0.0},
        }
        try:
            response = self._client.converse(**request)
        except ClientError as exc:
            raise self._map_error(exc) from exc
        ranked = parse_answer(response, labels, model_id=self._model_id)
        usage = response.get("usage", {})
        logger.info(
            "bedrock answered",
            extra={"input_tokens": usage.get("inputTokens"), "output_tokens": usage.get("outputTokens")},
        )
        return Classification(
            labels=tuple(Label(name=name, confidence=value) for name, value in ranked[: self._limits.max_labels]),
            backend=self.name,
            model_version=self._model_id,
        )
