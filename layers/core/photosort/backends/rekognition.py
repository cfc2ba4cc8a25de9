"""Amazon Rekognition DetectLabels backend: general labels with their parents and categories.

Rekognition reads JPEG/PNG straight from S3; other formats and out-of-limit images are converted in the
Lambda (see :mod:`photosort.backends._aws_images`). Labels come back 0-100 already.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from photosort.backends._aws_errors import map_client_error
from photosort.backends._aws_images import DETECT_LABELS, call_with_image
from photosort.backends.base import ImageInput
from photosort.models import BackendLimits, Classification, Label

_ACTION = "rekognition:DetectLabels"


def _clamp(confidence: float) -> float:
    return min(100.0, max(0.0, float(confidence)))


def _nearest_first(parents: list[str], ancestors: dict[str, list[str]]) -> tuple[str, ...]:
    """Order parents from the nearest to the most general.

    DetectLabels returns *all* ancestors but does not document their order (in practice it is alphabetical).
    When every parent is itself a label of the response, its own ancestor count is its depth, and the deepest
    parent is the nearest. Otherwise (a parent cut off by MaxLabels or MinConfidence) keep the service order.
    """
    if all(parent in ancestors for parent in parents):
        return tuple(sorted(parents, key=lambda parent: -len(ancestors[parent])))
    return tuple(parents)


def labels_from_response(response: dict[str, Any]) -> tuple[Label, ...]:
    raw = response.get("Labels", [])
    ancestors = {item["Name"]: [p["Name"] for p in item.get("Parents", [])] for item in raw}
    labels = [
        Label(
            name=item["Name"],
            confidence=_clamp(item.get("Confidence", 0.0)),
            parents=_nearest_first(ancestors[item["Name"]], ancestors),
            categories=tuple(c["Name"] for c in item.get("Categories", [])),
        )
        for item in raw
    ]
    return tuple(sorted(labels, key=lambda label: -label.confidence))


class RekognitionClassifier:
    name = "rekognition"

    def __init__(self, client: Any, limits: BackendLimits) -> None:
        self._client = client
        self._limits = limits

    def _detect(self, image_param: dict[str, Any]) -> dict[str, Any]:
        # No Features/Settings: the default (GENERAL_LABELS, no filters) is exactly what we want, and
        # IMAGE_PROPERTIES would be billed separately.
        return self._client.detect_labels(
            Image=image_param, MaxLabels=self._limits.max_labels, MinConfidence=self._limits.min_confidence
        )

    def _map_error(self, exc: ClientError) -> Exception:
        return map_client_error(exc, action=_ACTION)

    def classify(self, image: ImageInput) -> Classification:
        response = call_with_image(
            self._detect, image, DETECT_LABELS, max_pixels=self._limits.max_pixels, map_error=self._map_error
        )
        return Classification(
            labels=labels_from_response(response)[: self._limits.max_labels],
            backend=self.name,
            model_version=str(response.get("LabelModelVersion", "unknown")),
        )
