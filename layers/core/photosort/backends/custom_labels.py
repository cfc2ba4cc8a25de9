"""Amazon Rekognition Custom Labels backend: DetectCustomLabels against your own trained model version.

A Custom Labels model only answers while it is running (and is billed per hour while it runs), so a stopped
model is reported as :class:`~photosort.errors.BackendUnavailableError` with the command that starts it.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from photosort import constants as env
from photosort.backends._aws_errors import error_code, error_message, map_client_error
from photosort.backends._aws_images import DETECT_CUSTOM_LABELS, call_with_image
from photosort.backends.base import ImageInput
from photosort.errors import BackendUnavailableError
from photosort.models import BackendLimits, Classification, Label

_ACTION = "rekognition:DetectCustomLabels"


def version_name(project_version_arn: str) -> str:
    """``arn:aws:rekognition:REGION:ACCOUNT:project/NAME/version/VERSION/TIMESTAMP`` -> ``VERSION``."""
    _, found, rest = project_version_arn.partition("/version/")
    return rest.split("/", 1)[0] if found and rest else project_version_arn


class CustomLabelsClassifier:
    name = "custom-labels"

    def __init__(self, client: Any, limits: BackendLimits, *, project_version_arn: str) -> None:
        self._client = client
        self._limits = limits
        self._arn = project_version_arn

    def _detect(self, image_param: dict[str, Any]) -> dict[str, Any]:
        return self._client.detect_custom_labels(
            ProjectVersionArn=self._arn,
            Image=image_param,
            MaxResults=self._limits.max_labels,
            MinConfidence=self._limits.min_confidence,
        )

    def _map_error(self, exc: ClientError) -> Exception:
        code = error_code(exc)
        if code == "ResourceNotReadyException":
            return BackendUnavailableError(
                f"Custom Labels model {self._arn} is not running ({code}). Start it with "
                f"`aws rekognition start-project-version --project-version-arn {self._arn} --min-inference-units 1` "
                "and wait for RUNNING (it is billed per hour until stop-project-version)."
            )
        if code == "ResourceNotFoundException":
            return BackendUnavailableError(
                f"Custom Labels model version {self._arn} was not found ({code}: {error_message(exc)}). Check "
                f"{env.CUSTOM_LABELS_PROJECT_VERSION_ARN} and the region; if it exists, start it with "
                f"`aws rekognition start-project-version --project-version-arn {self._arn} --min-inference-units 1`."
            )
        return map_client_error(exc, action=_ACTION)

    def classify(self, image: ImageInput) -> Classification:
        response = call_with_image(
            self._detect, image, DETECT_CUSTOM_LABELS, max_pixels=self._limits.max_pixels, map_error=self._map_error
        )
        # An object-detection model returns one entry per bounding box, so the same name can repeat: keep the best.
        best: dict[str, float] = {}
        for item in response.get("CustomLabels", []):
            confidence = min(100.0, max(0.0, float(item.get("Confidence", 0.0))))
            best[item["Name"]] = max(confidence, best.get(item["Name"], 0.0))
        ranked = sorted(best.items(), key=lambda pair: -pair[1])[: self._limits.max_labels]
        return Classification(
            labels=tuple(Label(name=name, confidence=confidence) for name, confidence in ranked),
            backend=self.name,
            model_version=version_name(self._arn),
        )
