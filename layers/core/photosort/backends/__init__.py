"""Classification backends, one module each, behind :class:`~photosort.backends.base.Classifier`.

Modules are imported lazily by :func:`create_backend` so a function only loads what its backend needs
(the local model pulls in onnxruntime; the AWS backends only boto3).
"""

from __future__ import annotations

from photosort.backends.base import Classifier, ClientFactory, ImageInput
from photosort.settings import BackendName, Settings

__all__ = ["Classifier", "ClientFactory", "ImageInput", "create_backend"]


def create_backend(settings: Settings, client_factory: ClientFactory) -> Classifier:
    """Build the configured backend with the settings' limits. Clients are created here, never at import time."""
    limits = settings.backend_limits
    match settings.backend:
        case BackendName.LOCAL:
            from photosort.backends.local import LocalClassifier

            return LocalClassifier(limits, variant=settings.local_model_variant)
        case BackendName.REKOGNITION:
            from photosort.backends.rekognition import RekognitionClassifier

            return RekognitionClassifier(client_factory("rekognition"), limits)
        case BackendName.CUSTOM_LABELS:
            from photosort.backends.custom_labels import CustomLabelsClassifier

            assert settings.custom_labels_project_version_arn  # enforced by Settings
            return CustomLabelsClassifier(
                client_factory("rekognition"), limits, project_version_arn=settings.custom_labels_project_version_arn
            )
        case BackendName.SAGEMAKER:
            from photosort.backends.sagemaker import SageMakerClassifier

            assert settings.sagemaker_endpoint_name  # enforced by Settings
            return SageMakerClassifier(
                client_factory("sagemaker-runtime"),
                limits,
                endpoint_name=settings.sagemaker_endpoint_name,
                class_names=settings.sagemaker_class_names,
            )
    raise AssertionError(settings.backend)  # pragma: no cover - the enum is exhaustive
