"""The Distributed Map adapter (photosort_local.moto_distributed_map): a real ASL with ItemReader, ItemBatcher,
MaxConcurrency, ToleratedFailurePercentage and ResultWriter, run by moto's engine with a Pass or Fail child."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

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
