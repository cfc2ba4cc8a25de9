"""Configuration, read once from the environment into a validated pydantic model.

A bad value raises :class:`~photosort.errors.ConfigurationError` naming the variable; nothing falls back
silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from photosort import constants as env
from photosort.errors import ConfigurationError, describe_validation
from photosort.models import DEFAULT_MAX_PIXELS, MAX_LABELS, BackendLimits


class BackendName(StrEnum):
    LOCAL = "local"
    REKOGNITION = "rekognition"
    CUSTOM_LABELS = "custom-labels"
    SAGEMAKER = "sagemaker"
    BEDROCK = "bedrock"


class DuplicatePolicy(StrEnum):
    """What to do with bytes already recorded under another key (see README, Reliability)."""

    SET_ASIDE = "set-aside"  # move under duplicates/, record it, count it in no album
    SORT = "sort"  # sort it like any other photo (still recorded as a duplicate, counted once)


class NearDuplicatePolicy(StrEnum):
    """What to do with a photo whose embedding is close to an earlier one's (see README, Near-duplicates)."""

    RECORD = "record"  # sort it like any other photo; the record names the first one it nearly duplicates
    SET_ASIDE = "set-aside"  # move under duplicates/ like an exact duplicate, counted in no album
    OFF = "off"  # no near-duplicate search (and no index writes)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    backend: BackendName = Field(BackendName.LOCAL, alias=env.BACKEND)
    min_confidence: float = Field(55.0, ge=0, le=100, alias=env.MIN_CONFIDENCE)
    max_labels: int = Field(20, ge=1, le=MAX_LABELS, alias=env.MAX_LABELS)
    max_image_bytes: int = Field(50 * 1024 * 1024, ge=1, alias=env.MAX_IMAGE_BYTES)
    max_image_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, alias=env.MAX_IMAGE_PIXELS)
    table_name: str | None = Field(None, alias=env.TABLE_NAME)
    rules: str = Field("family", alias=env.RULES)
    rules_parameter: str | None = Field(None, alias=env.RULES_PARAMETER)
    rules_max_age: int = Field(300, ge=0, le=86400, alias=env.RULES_MAX_AGE)
    custom_labels_project_version_arn: str | None = Field(None, alias=env.CUSTOM_LABELS_PROJECT_VERSION_ARN)
    sagemaker_endpoint_name: str | None = Field(None, alias=env.SAGEMAKER_ENDPOINT_NAME)
    sagemaker_class_names: tuple[str, ...] = Field((), alias=env.SAGEMAKER_CLASS_NAMES)
    bedrock_model_id: str = Field("amazon.nova-lite-v1:0", min_length=1, alias=env.BEDROCK_MODEL_ID)
    bedrock_image_source: str = Field("bytes", pattern="^(bytes|s3)$", alias=env.BEDROCK_IMAGE_SOURCE)
    local_model_variant: str = Field("fp32", pattern="^(fp32|int8)$", alias=env.LOCAL_MODEL_VARIANT)
    duplicate_policy: DuplicatePolicy = Field(DuplicatePolicy.SET_ASIDE, alias=env.DUPLICATE_POLICY)
    label_head: str | None = Field(None, alias=env.LABEL_HEAD)
    label_head_max_age: int = Field(300, ge=0, le=86400, alias=env.LABEL_HEAD_MAX_AGE)
    near_duplicates: NearDuplicatePolicy = Field(NearDuplicatePolicy.OFF, alias=env.NEAR_DUPLICATES)  # as template.yaml
    near_duplicate_threshold: float = Field(0.8, gt=0, le=1, alias=env.NEAR_DUPLICATE_THRESHOLD)
    bucket_name: str | None = Field(None, alias=env.BUCKET_NAME)
    state_machine_arn: str | None = Field(None, alias=env.STATE_MACHINE_ARN)

    @field_validator("sagemaker_class_names", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator("bedrock_model_id", "bedrock_image_source", mode="before")
    @classmethod
    def _empty_is_default(cls, value: object, info: ValidationInfo) -> object:
        return cls.model_fields[info.field_name].default if value == "" and info.field_name else value

    @field_validator(
        "custom_labels_project_version_arn",
        "sagemaker_endpoint_name",
        "table_name",
        "rules_parameter",
        "label_head",
        "bucket_name",
        "state_machine_arn",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _backend_needs(self) -> Settings:
        if self.backend is BackendName.CUSTOM_LABELS and not self.custom_labels_project_version_arn:
            raise ValueError(f"{env.CUSTOM_LABELS_PROJECT_VERSION_ARN} is required when the backend is custom-labels")
        if self.backend is BackendName.SAGEMAKER and not self.sagemaker_endpoint_name:
            raise ValueError(f"{env.SAGEMAKER_ENDPOINT_NAME} is required when the backend is sagemaker")
        return self

    def require(self, name: str) -> str:
        """A setting the caller cannot work without (e.g. ``bucket_name`` for the sweeper)."""
        value = getattr(self, name)
        if not value:
            alias = type(self).model_fields[name].alias
            raise ConfigurationError(f"{alias} is not set")
        return str(value)

    @property
    def backend_limits(self) -> BackendLimits:
        """The limits every backend is built with: the same pixel limit Inspect applies."""
        return BackendLimits(
            max_labels=self.max_labels, min_confidence=self.min_confidence, max_pixels=self.max_image_pixels
        )

    def require_custom_labels_arn(self) -> str:
        if not self.custom_labels_project_version_arn:
            raise ConfigurationError(f"{env.CUSTOM_LABELS_PROJECT_VERSION_ARN} is not set")
        return self.custom_labels_project_version_arn

    def require_sagemaker_endpoint(self) -> str:
        if not self.sagemaker_endpoint_name:
            raise ConfigurationError(f"{env.SAGEMAKER_ENDPOINT_NAME} is not set")
        return self.sagemaker_endpoint_name

    def require_table(self) -> str:
        if not self.table_name:
            raise ConfigurationError(f"{env.TABLE_NAME} is not set")
        return self.table_name

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (default ``os.environ``); raise ConfigurationError if invalid."""
        source = os.environ if environ is None else environ
        values = {k: v for k, v in source.items() if k.startswith("PHOTOSORT_")}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            problems = describe_validation(exc, "settings")
            raise ConfigurationError(f"invalid photosort configuration: {problems}") from exc
