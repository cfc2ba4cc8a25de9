"""Fixtures for the static checks: template.yaml as written and as the SAM translator expands it."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"


class _NoManagedPolicies:
    """The translator asks IAM only for managed-policy names it cannot resolve itself; we use none."""

    def load(self) -> dict[str, str]:
        return {}


def load_template() -> dict[str, Any]:
    return yaml_parse(TEMPLATE.read_text(encoding="utf-8"))


def translate(sam: dict[str, Any]) -> dict[str, Any]:
    """The CloudFormation SAM would deploy (local code URIs swapped for S3 URIs, the ASL inlined)."""
    sam = copy.deepcopy(sam)
    for logical_id, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            props["CodeUri"] = f"s3://artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            props["ContentUri"] = f"s3://artifacts/{logical_id}.zip"
        elif resource["Type"] == "AWS::Serverless::StateMachine" and "DefinitionUri" in props:
            props["Definition"] = json.loads((REPO / props.pop("DefinitionUri")).read_text(encoding="utf-8"))
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")  # the translator insists on a region
    return transform(sam, {}, _NoManagedPolicies())


@pytest.fixture(scope="session")
def sam_template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="session")
def cfn_template(sam_template: dict[str, Any]) -> dict[str, Any]:
    return translate(sam_template)
