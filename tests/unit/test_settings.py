"""Configuration is read from the environment once, validated, and never silently falls back."""

from __future__ import annotations

import pytest

from photosort import constants as env
from photosort.errors import ConfigurationError
from photosort.settings import BackendName, Settings


def test_defaults_are_the_embedded_local_backend() -> None:
    settings = Settings.from_env({})
    assert settings.backend is BackendName.LOCAL and settings.rules == "family"


def test_values_are_parsed() -> None:
    settings = Settings.from_env(
        {env.BACKEND: "sagemaker", env.SAGEMAKER_ENDPOINT_NAME: "ep", env.SAGEMAKER_CLASS_NAMES: "cat, dog,,"}
    )
    assert settings.sagemaker_class_names == ("cat", "dog")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({env.BACKEND: "vision-api"}, env.BACKEND),
        ({env.MIN_CONFIDENCE: "150"}, env.MIN_CONFIDENCE),
        ({env.MAX_IMAGE_BYTES: "lots"}, env.MAX_IMAGE_BYTES),
        ({env.BACKEND: "custom-labels"}, env.CUSTOM_LABELS_PROJECT_VERSION_ARN),
        ({env.BACKEND: "sagemaker"}, env.SAGEMAKER_ENDPOINT_NAME),
        ({env.LOCAL_MODEL_VARIANT: "fp16"}, env.LOCAL_MODEL_VARIANT),
    ],
)
def test_a_bad_value_is_an_error_naming_the_variable(environ: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigurationError, match=named):
        Settings.from_env(environ)


def test_the_table_is_required_where_it_is_used() -> None:
    with pytest.raises(ConfigurationError, match=env.TABLE_NAME):
        Settings.from_env({}).require_table()
