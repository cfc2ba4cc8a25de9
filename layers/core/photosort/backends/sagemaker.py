"""Amazon SageMaker endpoint backend: send the image bytes, read back class scores.

Two output shapes are understood, because they cover the common deployments:

* the built-in image-classification algorithm: a probability per class, as a bare JSON list or under
  ``prediction``/``probabilities``, named by the configured ``class_names`` (same order as training);
* a container that names its labels: ``[{"label": ..., "score": 0-1}]`` (``probability``/``confidence``
  accepted for ``score``), bare or under ``predictions``.
"""

from __future__ import annotations

import json
import math
from typing import Any

from botocore.exceptions import ClientError

from photosort import constants as env
from photosort.backends._aws_errors import error_code, error_message, map_client_error
from photosort.backends._aws_images import INVOKE_ENDPOINT, fit_jpeg, usable_as_is
from photosort.backends.base import ImageInput
from photosort.errors import BackendError, BackendUnavailableError
from photosort.models import BackendLimits, Classification, Label

_ACTION = "sagemaker:InvokeEndpoint"
_WRAPPER_KEYS = ("prediction", "probabilities", "predictions")
_SCORE_KEYS = ("score", "probability", "confidence")


def _excerpt(raw: bytes) -> str:
    text = raw[:200].decode("utf-8", "replace")
    return text + ("..." if len(raw) > 200 else "")


def _percent(value: object, raw: bytes) -> float:
    """A 0-1 score as 0-100; anything else is a contract violation worth failing loudly on."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and 0 <= value <= 1:
        return float(value) * 100.0
    raise BackendError(f"endpoint score {value!r} is not a number in 0-1; output: {_excerpt(raw)}")


def parse_output(raw: bytes, class_names: tuple[str, ...]) -> dict[str, float]:
    """Return {label: confidence 0-100} from either supported output shape, or raise BackendError."""
    try:
        doc: Any = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BackendError(f"endpoint output is not JSON: {_excerpt(raw)}") from exc
    if isinstance(doc, dict):
        doc = next((doc[key] for key in _WRAPPER_KEYS if key in doc), None)
    if isinstance(doc, list) and len(doc) == 1 and isinstance(doc[0], list):
        doc = doc[0]  # a batch of one: [[p0, p1, ...]]
    if not isinstance(doc, list):
        raise BackendError(f"endpoint output has no list of scores: {_excerpt(raw)}")
    if not doc:
        return {}  # nothing predicted (e.g. everything under the container's own threshold)
    scores: dict[str, float] = {}
    if all(not isinstance(item, dict) for item in doc):
        if len(doc) != len(class_names):
            raise BackendError(
                f"endpoint returned {len(doc)} probabilities but {len(class_names)} class names are configured "
                f"in {env.SAGEMAKER_CLASS_NAMES}; they must match the model's classes, in training order"
            )
        for name, value in zip(class_names, doc, strict=True):
            scores[name] = max(_percent(value, raw), scores.get(name, 0.0))
        return scores
    for item in doc:
        label = item.get("label") if isinstance(item, dict) else None
        value = next((item[key] for key in _SCORE_KEYS if key in item), None) if isinstance(item, dict) else None
        if not isinstance(label, str) or value is None:
            raise BackendError(f"endpoint prediction needs a label and a score: {_excerpt(raw)}")
        scores[label] = max(_percent(value, raw), scores.get(label, 0.0))
    return scores


class SageMakerClassifier:
    name = "sagemaker"

    def __init__(self, client: Any, limits: BackendLimits, *, endpoint_name: str, class_names: tuple[str, ...]) -> None:
        self._client = client
        self._limits = limits
        self._endpoint = endpoint_name
        self._class_names = tuple(class_names)

    def _body(self, image: ImageInput) -> bytes:
        data = image.read()
        if usable_as_is(image, INVOKE_ENDPOINT, len(data)):
            return data
        return fit_jpeg(data, INVOKE_ENDPOINT, max_pixels=self._limits.max_pixels)

    def _map_error(self, exc: ClientError) -> Exception:
        code, message = error_code(exc), error_message(exc)
        if code == "ModelError":
            # The container answered with an error status: its own logs say why.
            details = exc.response
            return BackendError(
                f"endpoint {self._endpoint}: the model returned status {details.get('OriginalStatusCode', '?')}: "
                f"{details.get('OriginalMessage') or message} (logs: {details.get('LogStreamArn', 'CloudWatch')})"
            )
        if code == "ValidationError" and "not found" in message.lower():
            return BackendUnavailableError(
                f"SageMaker endpoint {self._endpoint} was not found ({message}); check "
                f"{env.SAGEMAKER_ENDPOINT_NAME}, the region, and that the endpoint is InService"
            )
        return map_client_error(exc, action=_ACTION)

    def classify(self, image: ImageInput) -> Classification:
        body = self._body(image)
        try:
            response = self._client.invoke_endpoint(
                EndpointName=self._endpoint,
                ContentType="application/x-image",  # JPEG or PNG, what the built-in algorithm accepts
                Accept="application/json",
                Body=body,
            )
            raw = response["Body"].read()
        except ClientError as exc:
            raise self._map_error(exc) from exc
        ranked = sorted(parse_output(raw, self._class_names).items(), key=lambda pair: -pair[1])
        variant = response.get("InvokedProductionVariant")  # the x-Amzn-Invoked-Production-Variant header
        return Classification(
            labels=tuple(Label(name=name, confidence=value) for name, value in ranked[: self._limits.max_labels]),
            backend=self.name,
            model_version=f"{self._endpoint}/{variant}" if variant else self._endpoint,
        )
