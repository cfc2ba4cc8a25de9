"""The speed adapters 13-15 (``photosort_local.moto_speed``): moto answers the same, with less work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort_local import moto_patches

REGION = "us-east-1"


@pytest.fixture
def table() -> Iterator[Any]:
    """Table "t" (PK, SK; a GSI on "g") holding 5 partitions of 40 items, the adapters installed."""
    moto_patches.install()
    with mock_aws():
        db = boto3.client("dynamodb", region_name=REGION)
        db.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("PK", "SK", "g")],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
            GlobalSecondaryIndexes=[
                {
                    "IndexName": "ByG",
                    "KeySchema": [{"AttributeName": "g", "KeyType": "HASH"}],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
        )
        for p in range(5):
            for i in reversed(range(40)):
                item = {"PK": {"S": f"P{p}"}, "SK": {"S": f"{i:03d}#x"}, "n": {"N": str(i % 7)}, "v": {"S": "y" * i}}
                if i % 10 == 0:
                    item["g"] = {"S": "even"}
                db.put_item(TableName="t", Item=item)
        yield db


def _keys(items: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(i["PK"]["S"], i["SK"]["S"]) for i in items]


def _pages(db: Any, **kwargs: Any) -> list[list[tuple[str, str]]]:
    pages = []
    while True:
        resp = db.query(TableName="t", **kwargs)
        pages.append(_keys(resp["Items"]))
        if "LastEvaluatedKey" not in resp:
            return pages
        kwargs["ExclusiveStartKey"] = resp["LastEvaluatedKey"]


def test_a_query_returns_its_partition_sorted_paged_filtered_and_projected(table: Any) -> None:
    expected = [("P2", f"{i:03d}#x") for i in range(40)]
    assert _pages(table, KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "P2"}}) == [expected]
    newest = _pages(
        table,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "P2"}},
        ScanIndexForward=False,
        Limit=15,
    )
    assert newest == [expected[::-1][:15], expected[::-1][15:30], expected[::-1][30:]]
    ranged = table.query(
        TableName="t",
        KeyConditionExpression="PK = :p AND begins_with(SK, :s)",
        FilterExpression="n = :n",
        ProjectionExpression="SK, n",
        ExpressionAttributeValues={":p": {"S": "P4"}, ":s": {"S": "01"}, ":n": {"N": "3"}},
    )
    assert ranged["Items"] == [{"SK": {"S": "010#x"}, "n": {"N": "3"}}, {"SK": {"S": "017#x"}, "n": {"N": "3"}}]
    assert ranged["ScannedCount"] == 10 and ranged["Count"] == 2
    empty = table.query(TableName="t", KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "Q"}})
    assert empty["Items"] == [] and empty["Count"] == 0


def test_index_queries_and_scans_still_see_the_whole_table(table: Any) -> None:
    by_index = table.query(
        TableName="t", IndexName="ByG", KeyConditionExpression="g = :g", ExpressionAttributeValues={":g": {"S": "even"}}
    )
    expected = sorted((f"P{p}", f"{i:03d}#x") for p in range(5) for i in (0, 10, 20, 30))
    assert sorted(_keys(by_index["Items"])) == expected
    assert table.scan(TableName="t", Select="COUNT")["Count"] == 200


def test_a_query_compares_only_the_items_of_its_partition(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.dynamodb.models.dynamo_type import DynamoType

    comparisons = 0
    less = DynamoType.__lt__

    def counting(self: DynamoType, other: DynamoType) -> bool:
        nonlocal comparisons
        comparisons += 1
        return less(self, other)

    monkeypatch.setattr(DynamoType, "__lt__", counting)
    table.query(TableName="t", KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "P1"}})
    # sorting 40 items takes at most 40 * log2(40) ~ 213 comparisons; sorting all 200 items takes over 1,000
    assert 0 < comparisons < 250


def test_s3_reloads_its_url_patterns_only_when_the_custom_endpoints_change(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    moto_patches.install()
    reloads: list[str] = []
    reload = importlib.reload
    monkeypatch.setattr(importlib, "reload", lambda module: reloads.append(module.__name__) or reload(module))
    monkeypatch.delenv("MOTO_S3_CUSTOM_ENDPOINTS", raising=False)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bucket-b")
        for i in range(5):
            s3.put_object(Bucket="bucket-b", Key=f"k{i}", Body=b"x")
        assert reloads.count("moto.s3.urls") <= 1
        endpoint = "http://photos.example.internal:9000"
        monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", endpoint)
        custom = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
        assert custom.get_object(Bucket="bucket-b", Key="k1")["Body"].read() == b"x"  # the new endpoint is routed
        assert reloads.count("moto.s3.urls") <= 2


def test_a_backends_url_table_is_built_once_and_is_moto_s() -> None:
    from moto.core.base_backend import BaseBackend
    from moto.dynamodb.models import dynamodb_backends

    moto_patches.install()
    backend = dynamodb_backends["123456789012"][REGION]
    first = backend.urls
    assert backend.urls is first
    original = BaseBackend.urls.fget.__wrapped__  # type: ignore[attr-defined]
    assert original(backend) == first
