"""Configuration, read once from the environment into a validated pydantic model.

A bad value raises :class:`~photosort.errors.ConfigurationError` naming the variable; nothing falls back
silently.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from photosort import constants as env
from photosort.errors import ConfigurationError, describe_validation
from photosort.models import DEFAULT_MAX_PIXELS, BackendLimits


class BackendName(StrEnum):
    LOCAL = "local"
    REKOGNITION = "rekognition"
    CUSTOM_LABELS = "custom-labels"
    SAGEMAKER = "sagemaker"


class DuplicatePolicy(StrEnum):
    """What to do with bytes already recorded under another key (see README, Reliability)."""

    SET_ASIDE = "set-aside"  # move under duplicates/, record it, count it in no album
    SORT = "sort"  # sort it like any other photo (still recorded as a duplicate, counted once)


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    backend: BackendName = Field(BackendName.LOCAL, alias=env.BACKEND)
    min_confidence: float = Field(55.0, ge=0, le=100, alias=env.MIN_CONFIDENCE)
    max_labels: int = Field(20, ge=1, le=1000, alias=env.MAX_LABELS)
    max_image_bytes: int = Field(50 * 1024 * 1024, ge=1, alias=env.MAX_IMAGE_BYTES)
    max_image_pixels: int = Field(DEFAULT_MAX_PIXELS, ge=1, alias=env.MAX_IMAGE_PIXELS)
    table_name: str | None = Field(None, alias=env.TABLE_NAME)
    rules: str = Field("family", alias=env.RULES)
    rules_parameter: str | None = Field(None, alias=env.RULES_PARAMETER)
    rules_max_age: int = Field(300, ge=0, le=86400, alias=env.RULES_MAX_AGE)
    custom_labels_project_version_arn: str | None = Field(None, alias=env.CUSTOM_LABELS_PROJECT_VERSION_ARN)
    sagemaker_endpoint_name: str | None = Field(None, alias=env.SAGEMAKER_ENDPOINT_NAME)
    sagemaker_class_names: tuple[str, ...] = Field((), alias=env.SAGEMAKER_CLASS_NAMES)
    local_model_variant: str = Field("fp32", pattern="^(fp32|int8)$", alias=env.LOCAL_MODEL_VARIANT)
    duplicate_policy: DuplicatePolicy = Field(DuplicatePolicy.SET_ASIDE, alias=env.DUPLICATE_POLICY)

    @field_validator("sagemaker_class_names", mode="before")
    @classmethod
    def _split_names(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(name.strip() for name in value.split(",") if name.strip())
        return value

    @field_validator(
        "custom_labels_project_version_arn", "sagemaker_endpoint_name", "table_name", "rules_parameter", mode="before"
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

    @property
    def backend_limits(self) -> BackendLimits:
        """The limits every backend is built with: the same pixel limit Inspect applies."""
        return BackendLimits(
            max_labels=self.max_labels, min_confidence=self.min_confidence, max_pixels=self.max_image_pixels
        )

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
