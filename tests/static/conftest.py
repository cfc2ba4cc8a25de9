"""Fixtures for the static checks: template.yaml as written and as the SAM translator expands it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from photosort_local import sam

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


def load_template() -> dict[str, Any]:
    return sam.load_sam_template(TEMPLATE)


def translate(template: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation SAM would deploy (local code URIs swapped for S3 URIs, the ASL inlined)."""
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator insists on a region
    return sam.translate(template, REPO, lambda logical_id, _folder, _src: f"s3://artifacts/{logical_id}.zip")


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)
