"""The Distributed Map adapter (photosort_local.moto_distributed_map): a real ASL with ItemReader, ItemBatcher,
MaxConcurrency, ToleratedFailurePercentage and ResultWriter, run by moto's engine with a Pass or Fail child."""

from __future__ import annotations

import gzip
import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote_plus

import boto3
import pytest
from moto import mock_aws

from photosort_local import inventory
from photosort_local import moto_distributed_map as dmap

BUCKET = "dmap-bucket"
ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    dmap.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3, boto3.client("stepfunctions", region_name="us-east-1")


def _machine(child: dict[str, Any], **map_fields: Any) -> str:
    return json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "Resource": "arn:aws:states:::s3:listObjectsV2",
                        "Parameters": {"Bucket": BUCKET, "Prefix.$": "$.prefix"},
                    },
                    "ItemSelector": {
                        "key.$": "$$.Map.Item.Value.Key",
                        "etag.$": "$$.Map.Item.Value.Etag",
                        "size.$": "$$.Map.Item.Value.Size",
                    },
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Child",
                        "States": {"Child": child},
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "reports"},
                    },
                    "End": True,
                    **map_fields,
                },
            },
        }
    )


def _run(sfn: Any, definition: str, payload: dict[str, Any]) -> dict[str, Any]:
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", definition=definition, roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(payload))["executionArn"]
    for _ in range(600):
        desc = sfn.describe_execution(executionArn=execution)
        if desc["status"] != "RUNNING" and (desc["status"] != "SUCCEEDED" or "output" in desc):
            return desc
        time.sleep(0.05)
    raise AssertionError("execution did not finish")


def _put(s3: Any, count: int, prefix: str = "in/", *, mark_odd: bool = False) -> None:
    for i in range(count):
        odd = "-odd" if mark_odd and i % 2 else ""
        s3.put_object(Bucket=BUCKET, Key=f"{prefix}{i:05d}{odd}.txt", Body=b"xx" if odd else b"x")


def _results(s3: Any, output: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    details = output["ResultWriterDetails"]
    manifest = json.loads(s3.get_object(Bucket=details["Bucket"], Key=details["Key"])["Body"].read())
    out: dict[str, list[dict[str, Any]]] = {}
    for status, files in manifest["ResultFiles"].items():
        out[status] = [e for f in files for e in json.loads(s3.get_object(Bucket=BUCKET, Key=f["Key"])["Body"].read())]
    return out


def test_batches_every_page_of_the_listing_with_batch_input(aws: tuple[Any, Any]) -> None:
    # GIVEN 2,345 objects (three ListObjectsV2 pages) and a batcher of 500 with a BatchInput from the state input
    s3, sfn = aws
    _put(s3, 2345)
    _put(s3, 3, prefix="other/")
    definition = _machine(
        {"Type": "Pass", "End": True},
        ItemBatcher={"MaxItemsPerBatch": 500, "BatchInput": {"mode.$": "$.mode", "fixed": 1}},
        MaxConcurrency=2,
    )
    # WHEN the machine runs
    desc = _run(sfn, definition, {"prefix": "in/", "mode": "ingest"})
    # THEN every key under the prefix reached exactly one child, in batches of 500, through the ItemSelector
    assert desc["status"] == "SUCCEEDED", desc
    results = _results(s3, json.loads(desc["output"]))
    children = [json.loads(e["Input"]) for e in results["SUCCEEDED"]]
    assert sorted(len(c["Items"]) for c in children) == [345, 500, 500, 500, 500]
    assert all(c["BatchInput"] == {"mode": "ingest", "fixed": 1} for c in children)
    keys = sorted(i["key"] for c in children for i in c["Items"])
    assert keys == [f"in/{i:05d}.txt" for i in range(2345)]
    assert all(set(i) == {"key", "etag", "size"} and i["etag"].startswith('"') for c in children for i in c["Items"])
    assert results["FAILED"] == []
    assert json.loads(results["SUCCEEDED"][0]["Output"]) == children[0]  # a Pass child echoes its batch


def test_an_empty_prefix_is_an_empty_map_run(aws: tuple[Any, Any]) -> None:
    s3, sfn = aws
    desc = _run(sfn, _machine({"Type": "Pass", "End": True}, ItemBatcher={"MaxItemsPerBatch": 10}), {"prefix": "no/"})
    assert desc["status"] == "SUCCEEDED", desc
    assert _results(s3, json.loads(desc["output"])) == {"FAILED": [], "PENDING": [], "SUCCEEDED": []}


FAIL_ODD = {
    "Type": "Choice",
    "Choices": [{"Variable": "$.first.size", "NumericEquals": 2, "Next": "Boom"}],
    "Default": "Ok",
}


def _definition_with_fail(**fields: Any) -> str:
    doc = json.loads(_machine({"Type": "Pass", "End": True}, **fields))
    processor = doc["States"]["Each"]["ItemProcessor"]
    processor["StartAt"] = "First"
    processor["States"] = {
        # moto reads "$.Items[0].size" as a list ([2]; AWS: 2): take the first item out with an intrinsic
        "First": {"Type": "Pass", "Parameters": {"first.$": "States.ArrayGetItem($.Items, 0)"}, "Next": "Route"},
        "Route": FAIL_ODD,
        "Boom": {"Type": "Fail", "Error": "OddKey", "Cause": "odd"},
        "Ok": {"Type": "Succeed"},
    }
    return json.dumps(doc)


def test_failures_within_the_tolerated_percentage_are_reported(aws: tuple[Any, Any]) -> None:
    # GIVEN 10 single-item batches of which 5 fail, and 50% tolerated
    s3, sfn = aws
    _put(s3, 10, mark_odd=True)
    definition = _definition_with_fail(ItemBatcher={"MaxItemsPerBatch": 1}, ToleratedFailurePercentage=50)
    desc = _run(sfn, definition, {"prefix": "in/"})
    # THEN the Map succeeds, and the failed children are in FAILED_0.json with their error and cause
    assert desc["status"] == "SUCCEEDED", desc
    results = _results(s3, json.loads(desc["output"]))
    assert len(results["SUCCEEDED"]) == 5
    assert len(results["FAILED"]) == 5
    assert {(e["Error"], e["Cause"]) for e in results["FAILED"]} == {("OddKey", "odd")}
    failed_keys = sorted(json.loads(e["Input"])["Items"][0]["key"] for e in results["FAILED"])
    assert failed_keys == [f"in/{i:05d}-odd.txt" for i in range(1, 10, 2)]


def test_exceeding_the_tolerated_percentage_fails_the_map_and_still_writes_results(aws: tuple[Any, Any]) -> None:
    s3, sfn = aws
    _put(s3, 10, mark_odd=True)
    definition = _definition_with_fail(ItemBatcher={"MaxItemsPerBatch": 1}, ToleratedFailurePercentage=40)
    desc = _run(sfn, definition, {"prefix": "in/"})
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.ExceedToleratedFailureThreshold"
    assert "5 of 10 items failed" in desc["cause"]
    reports = s3.list_objects_v2(Bucket=BUCKET, Prefix="reports/")["Contents"]
    assert any(o["Key"].endswith("/FAILED_0.json") for o in reports)


def test_no_threshold_declared_means_any_failure_fails_the_map(aws: tuple[Any, Any]) -> None:
    s3, sfn = aws
    _put(s3, 2, mark_odd=True)
    desc = _run(sfn, _definition_with_fail(ItemBatcher={"MaxItemsPerBatch": 1}), {"prefix": "in/"})
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.ExceedToleratedFailureThreshold"


def test_a_failed_batch_counts_all_of_its_items() -> None:
    config = dmap.MapConfig({"ToleratedFailurePercentage": 10})
    assert not dmap.exceeds_tolerance(10, 100, config, 0, 10.0)
    assert dmap.exceeds_tolerance(11, 100, config, 0, 10.0)
    counted = dmap.MapConfig({"ToleratedFailureCount": 3, "ToleratedFailurePercentage": 50})
    assert dmap.exceeds_tolerance(4, 100, counted, 3, 50.0)  # either threshold exceeded fails it
    assert not dmap.exceeds_tolerance(0, 0, dmap.MapConfig({}), 0, 0.0)


def test_max_concurrency_bounds_the_children_running_at_once(aws: tuple[Any, Any]) -> None:
    # GIVEN 12 batches whose child waits a moment, and MaxConcurrency 3
    s3, sfn = aws
    _put(s3, 12)
    from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
        distributed_item_processor_worker as dipw,
    )

    running, peak = [0], [0]
    original = dipw.DistributedItemProcessorWorker._eval_job

    def counting(self: Any, env: Any, job: Any) -> None:
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        try:
            original(self, env, job)
        finally:
            running[0] -= 1

    dipw.DistributedItemProcessorWorker._eval_job = counting
    try:
        child = {"Type": "Wait", "Seconds": 1, "End": True}
        desc = _run(sfn, _machine(child, ItemBatcher={"MaxItemsPerBatch": 1}, MaxConcurrency=3), {"prefix": "in/"})
    finally:
        dipw.DistributedItemProcessorWorker._eval_job = original
    assert desc["status"] == "SUCCEEDED", desc
    assert 1 < peak[0] <= 3


def test_unsupported_batcher_fields_are_refused() -> None:
    with pytest.raises(dmap.UnsupportedBatcherError, match="MaxInputBytesPerBatch"):
        dmap.MapConfig({"ItemBatcher": {"MaxItemsPerBatch": 5, "MaxInputBytesPerBatch": 1024}})
    with pytest.raises(dmap.UnsupportedBatcherError, match="MaxItemsPerBatch"):
        dmap.MapConfig({"ItemBatcher": {"MaxItemsPerBatchPath": "$.n"}})


def test_strip_batchers_keeps_everything_else() -> None:
    doc = {"StartAt": "M", "States": {"M": {"Type": "Map", "ItemBatcher": {"MaxItemsPerBatch": 2}, "End": True}}}
    stripped, maps = dmap.strip_batchers(doc)
    assert stripped == {"StartAt": "M", "States": {"M": {"Type": "Map", "End": True}}}
    assert maps["M"]["ItemBatcher"] == {"MaxItemsPerBatch": 2}
    assert dmap.batches([1, 2, 3], 2, None) == [{"Items": [1, 2]}, {"Items": [3]}]


def test_a_listing_page_that_races_a_delete_is_asked_again() -> None:
    class Racy:
        calls = 0

        def list_objects_v2(self, **kwargs: Any) -> dict[str, Any]:
            self.calls += 1
            if self.calls == 1:
                raise KeyError("in/00001.txt")  # moto iterating its key store while another thread deletes
            return {"Contents": [{"Key": "in/a", "ETag": '"e"', "Size": 1, "LastModified": 5}], "IsTruncated": False}

    racy = Racy()
    assert dmap.list_items(racy, {"Bucket": "b"}) == [
        {"Etag": '"e"', "Key": "in/a", "LastModified": 5, "Size": 1, "StorageClass": "STANDARD"}
    ]
    assert racy.calls == 2


# -- 5: an S3 Inventory manifest as the ItemReader ---------------------------------------------------------------
INVENTORY = "dmap-inventory"


def _inventory_file(rows: list[list[str]]) -> bytes:
    """A CSV inventory file as S3 writes one: every field quoted, no header, gzip."""
    lines = "".join(",".join(f'"{v}"' for v in row) + "\n" for row in rows)
    return gzip.compress(lines.encode("utf-8"))


def _manifest(files: list[str], *, file_format: str = "CSV", schema: str = "Bucket, Key, Size, IsLatest") -> bytes:
    return json.dumps(
        {
            "sourceBucket": BUCKET,
            "destinationBucket": f"arn:aws:s3:::{INVENTORY}",
            "version": "2016-11-30",
            "creationTimestamp": "1764633600000",
            "fileFormat": file_format,
            "fileSchema": schema,
            "files": [{"key": k, "size": 1, "MD5checksum": "0" * 32} for k in files],
        }
    ).encode()


def _manifest_machine(**reader_config: Any) -> str:
    return json.dumps(
        {
            "StartAt": "Each",
            "States": {
                "Each": {
                    "Type": "Map",
                    "ItemReader": {
                        "ReaderConfig": {"InputType": "MANIFEST", **reader_config},
                        "Resource": "arn:aws:states:::s3:getObject",
                        "Parameters": {"Bucket.$": "$.bucket", "Key.$": "$.key"},
                    },
                    "ItemBatcher": {"MaxItemsPerBatch": 3, "BatchInput": {"mode.$": "$.mode"}},
                    "ItemProcessor": {
                        "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                        "StartAt": "Child",
                        "States": {"Child": {"Type": "Pass", "End": True}},
                    },
                    "ResultWriter": {
                        "Resource": "arn:aws:states:::s3:putObject",
                        "Parameters": {"Bucket": BUCKET, "Prefix": "reports"},
                    },
                    "End": True,
                },
            },
        }
    )


def test_an_inventory_manifest_gives_one_item_per_row_of_every_file(aws: tuple[Any, Any]) -> None:
    # GIVEN an S3 Inventory in another bucket: a manifest naming two gzip CSV files (keys URL-encoded)
    s3, sfn = aws
    s3.create_bucket(Bucket=INVENTORY)
    first = [[BUCKET, f"in/{i}.jpg", str(i), "true"] for i in range(4)]
    second = [[BUCKET, "in/Summer+2019/%C3%A9t%C3%A9%2B1.jpg", "7", "true"], [BUCKET, "in/old.jpg", "3", "false"]]
    s3.put_object(Bucket=INVENTORY, Key="inv/data/a.csv.gz", Body=_inventory_file(first))
    s3.put_object(Bucket=INVENTORY, Key="inv/data/b.csv.gz", Body=_inventory_file(second))
    s3.put_object(
        Bucket=INVENTORY, Key="inv/m/manifest.json", Body=_manifest(["inv/data/a.csv.gz", "inv/data/b.csv.gz"])
    )

    # WHEN a Distributed Map reads it
    desc = _run(sfn, _manifest_machine(), {"bucket": INVENTORY, "key": "inv/m/manifest.json", "mode": "ingest"})

    # THEN every row is an item named by the fileSchema's columns, values as strings, keys as S3 wrote them
    assert desc["status"] == "SUCCEEDED", desc
    results = _results(s3, json.loads(desc["output"]))
    children = [json.loads(e["Input"]) for e in results["SUCCEEDED"]]
    assert sorted(len(c["Items"]) for c in children) == [3, 3]
    items = sorted((i for c in children for i in c["Items"]), key=lambda i: i["Key"])
    assert items[0] == {"Bucket": BUCKET, "Key": "in/0.jpg", "Size": "0", "IsLatest": "true"}
    assert {i["Key"] for i in items} == {r[1] for r in first + second}
    assert all(c["BatchInput"] == {"mode": "ingest"} for c in children)


def test_max_items_caps_the_rows(aws: tuple[Any, Any]) -> None:
    s3, sfn = aws
    s3.create_bucket(Bucket=INVENTORY)
    s3.put_object(
        Bucket=INVENTORY, Key="d/a.csv.gz", Body=_inventory_file([[BUCKET, f"k{i}", "1", "true"] for i in range(9)])
    )
    s3.put_object(Bucket=INVENTORY, Key="m.json", Body=_manifest(["d/a.csv.gz"]))
    desc = _run(sfn, _manifest_machine(MaxItems=5), {"bucket": INVENTORY, "key": "m.json", "mode": "x"})
    assert desc["status"] == "SUCCEEDED", desc
    children = [json.loads(e["Input"]) for e in _results(s3, json.loads(desc["output"]))["SUCCEEDED"]]
    assert sum(len(c["Items"]) for c in children) == 5


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (_manifest(["d/a.csv.gz"], file_format="Parquet"), "only CSV inventories"),
        (_manifest(["d/a.csv.gz"], schema="Bucket, Size"), "no Key column"),
        (b'{"files": []}', "not an S3 Inventory manifest"),
        (b"not json", "not JSON"),
        (_manifest(["d/missing.csv.gz"]), "NoSuchKey"),
    ],
)
def test_a_manifest_that_cannot_be_read_fails_the_map_as_item_reader_failed(
    aws: tuple[Any, Any], body: bytes, cause: str
) -> None:
    s3, sfn = aws
    s3.create_bucket(Bucket=INVENTORY)
    s3.put_object(Bucket=INVENTORY, Key="m.json", Body=body)
    desc = _run(sfn, _manifest_machine(), {"bucket": INVENTORY, "key": "m.json", "mode": "x"})
    assert desc["status"] == "FAILED"
    assert desc["error"] == "States.ItemReaderFailed" and cause in desc["cause"]


def test_write_inventory_writes_what_the_reader_reads(aws: tuple[Any, Any]) -> None:
    # photosort_local.inventory.write_inventory (the offline stack has no S3 Inventory) against the reader
    s3, _sfn = aws
    s3.create_bucket(Bucket=INVENTORY)
    keys = ["a b.jpg", "x+y.jpg", "é/100%.png", *(f"n/{i:04d}" for i in range(25))]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"12345")
    uri = inventory.write_inventory(s3, BUCKET, INVENTORY, prefix="inv/", rows_per_file=10)
    assert uri.startswith(f"s3://{INVENTORY}/inv/{BUCKET}/photosort/") and uri.endswith("/manifest.json")
    manifest = json.loads(s3.get_object(Bucket=INVENTORY, Key=uri.split("/", 3)[3])["Body"].read())
    assert len(manifest["files"]) == 3 and manifest["fileFormat"] == "CSV"
    rows = inventory.read_manifest(s3, uri)
    assert sorted(unquote_plus(r["Key"]) for r in rows) == sorted(keys)
    assert {r["Key"] for r in rows} >= {"a+b.jpg", "x%2By.jpg", "%C3%A9/100%25.png"}
    assert all(r["Size"] == "5" and r["Bucket"] == BUCKET and len(r["ETag"]) == 32 for r in rows)
    with pytest.raises(inventory.InventoryManifestError, match="cannot read the manifest"):
        inventory.read_manifest(s3, f"s3://{INVENTORY}/nope/manifest.json")
