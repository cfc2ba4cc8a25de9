"""photosort's DynamoDB table in moto, built from template.yaml's own definition."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from photosort.repository import Repository

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"
TABLE = "photos"


def table_definition() -> dict[str, Any]:
    """The PhotoTable's keys, indexes and billing mode, as template.yaml declares them."""
    from photosort_local.sam import load_sam_template

    props = load_sam_template(TEMPLATE)["Resources"]["PhotoTable"]["Properties"]
    keep = ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
    return {k: props[k] for k in keep if k in props}


def moto_repository() -> Iterator[Repository]:
    """A Repository over a fresh moto table named ``TABLE`` (for a fixture to yield from)."""
    import boto3
    from moto import mock_aws

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **table_definition())
        yield Repository(client, TABLE)
