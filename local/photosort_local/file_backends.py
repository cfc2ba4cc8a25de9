"""Any classification backend on a local file, for ``photosort classify`` and ``photosort evaluate``.

The backend objects are the ones the Classify Lambda uses (:func:`photosort.backends.create_backend`), built
from the same settings; only the image differs: a local file is an :class:`ImageInput` with ``in_s3=False``,
so Rekognition and Custom Labels get ``Image.Bytes`` (the original JPEG/PNG when it is within the inline
limit, else the pipeline's conversion) instead of an S3 reference.

AWS clients come from the normal credential chain (environment, profile, SSO, instance role) and region
(``--region``, ``AWS_REGION``, the profile); ``--endpoint-url`` sends every call to another endpoint (e.g.
``photosort local serve``). Anything that stops a backend before the first photo (no credentials, no
region, a missing model ARN) raises :class:`BackendNotReady` with one line naming the fix.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from photosort import constants

if TYPE_CHECKING:
    from photosort.models import Classification

BACKEND_NAMES = ("local", "rekognition", "custom-labels", "sagemaker", "bedrock")
AWS_BACKENDS = frozenset(BACKEND_NAMES) - {"local"}

NO_CREDENTIALS = (
    "no AWS credentials: export AWS_PROFILE=<profile> (see `aws configure`), or AWS_ACCESS_KEY_ID and "
    "AWS_SECRET_ACCESS_KEY"
)


class BackendNotReady(Exception):
    """The backend cannot run here; the message says what to do about it."""


@dataclass(frozen=True)
class BackendOptions:
    """Command-line overrides; anything left None comes from the PHOTOSORT_* environment, then the defaults."""

    region: str | None = None
    endpoint_url: str | None = None
    rules: str | None = None  # preset name or one-line JSON (the RoutingRules parameter's form)
    model_id: str | None = None
    project_version_arn: str | None = None
    endpoint_name: str | None = None
    class_names: str | None = None
    min_confidence: float | None = None
    max_labels: int | None = None
    environ: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def settings_env(self, backend: str) -> dict[str, str]:
        env = {k: v for k, v in self.environ.items() if k.startswith("PHOTOSORT_")}
        env.pop(constants.RULES_PARAMETER, None)  # rules come from --rules here, never from a stack's SSM
        env[constants.BACKEND] = backend
        overrides = {
            constants.RULES: self.rules,
            constants.BEDROCK_MODEL_ID: self.model_id,
            constants.CUSTOM_LABELS_PROJECT_VERSION_ARN: self.project_version_arn,
            constants.SAGEMAKER_ENDPOINT_NAME: self.endpoint_name,
            constants.SAGEMAKER_CLASS_NAMES: self.class_names,
            constants.MIN_CONFIDENCE: None if self.min_confidence is None else str(self.min_confidence),
            constants.MAX_LABELS: None if self.max_labels is None else str(self.max_labels),
        }
        env.update({k: v for k, v in overrides.items() if v is not None})
        return env


@dataclass
class FileClassifier:
    """A backend ready for local files. ``fingerprint`` changes whenever its answers could change."""

    name: str
    fingerprint: str
    classify: Callable[[bytes, str], Classification]


_sessions: dict[tuple[str | None, str | None], Any] = {}


def _aws_session(options: BackendOptions) -> Any:
    """The CLI's session (:mod:`photosort_local.endpoints`: an endpoint on this machine gets the local stack's
    region and dummy credentials), one per endpoint and region: a credential lookup can take seconds."""
    from photosort_local import endpoints

    key = (options.endpoint_url, options.region)
    if key not in _sessions:
        try:
            _sessions[key] = endpoints.session(options.endpoint_url, options.region)
        except endpoints.AwsSetupError as exc:
            raise BackendNotReady(str(exc)) from exc
    return _sessions[key]


def _requirement(backend: str, settings_env: dict[str, str]) -> None:
    if backend == "custom-labels" and not settings_env.get(constants.CUSTOM_LABELS_PROJECT_VERSION_ARN):
        raise BackendNotReady(
            "custom-labels needs the model version: pass --project-version-arn ARN "
            f"(or set {constants.CUSTOM_LABELS_PROJECT_VERSION_ARN})"
        )
    if backend == "sagemaker" and not settings_env.get(constants.SAGEMAKER_ENDPOINT_NAME):
        raise BackendNotReady(
            f"sagemaker needs an endpoint: pass --endpoint-name NAME (or set {constants.SAGEMAKER_ENDPOINT_NAME})"
        )


def open_backend(backend: str, options: BackendOptions) -> FileClassifier:
    """Build ``backend`` for local files, or raise BackendNotReady / ConfigurationError before any photo."""
    from photosort.backends import ImageInput, create_backend
    from photosort.imaging import inspect_image
    from photosort.models import ObjectRef
    from photosort.settings import Settings

    if backend not in BACKEND_NAMES:
        raise BackendNotReady(f"unknown backend {backend!r}; choose from {', '.join(BACKEND_NAMES)}")
    env = options.settings_env(backend)
    _requirement(backend, env)
    settings = Settings.from_env(env)
    if backend == "local":
        from photosort.backends.local import LocalClassifier

        # Built now, so loading the model is not counted in the first photo's latency.
        local = LocalClassifier(settings.backend_limits, variant=settings.local_model_variant)
        return FileClassifier(
            name=backend,
            fingerprint=f"local/{settings.local_model_variant}/{settings.max_labels}",
            classify=lambda data, _name: local.classify_bytes(data),
        )
    session = _aws_session(options)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=options.endpoint_url)

    classifier = create_backend(settings, client)

    def classify(data: bytes, name: str) -> Classification:
        ref = ObjectRef(bucket="local-file", key=name, size=len(data))
        image = ImageInput(ref=ref, metadata=inspect_image(data), fetch=lambda: data, in_s3=False)
        return classifier.classify(image)

    return FileClassifier(name=backend, fingerprint=_fingerprint(backend, settings, session), classify=classify)


def _fingerprint(backend: str, settings: Any, session: Any) -> str:
    """What decides a backend's answers: its model and the settings it passes, not the credentials."""
    from photosort.routing import load_rules

    parts = [backend, session.region_name, str(settings.max_labels), str(settings.min_confidence)]
    if backend == "custom-labels":
        parts.append(settings.custom_labels_project_version_arn)
    elif backend == "sagemaker":
        parts += [settings.sagemaker_endpoint_name, ",".join(settings.sagemaker_class_names)]
    elif backend == "bedrock":
        from photosort.backends.bedrock import vocabulary

        labels = ",".join(vocabulary(load_rules(settings.rules)))
        parts += [settings.bedrock_model_id, hashlib.sha256(labels.encode()).hexdigest()[:12]]
    return "/".join(parts)
