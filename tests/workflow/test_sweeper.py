"""The incoming/ sweeper, on the embedded stack: executions are killed where no Catch can see it, and the sweeper
(the deployed SweepFunction, invoked as its schedule would) leaves nothing stuck, idempotently and bounded."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from photosort.models import Status
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness
from tests.workflow.test_workflow import variant


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as running:  # its own stack: these tests leave objects under incoming/ on purpose
        yield running


def sweep(harness: Harness, **options: Any) -> dict[str, Any]:
    """Invoke the deployed sweeper with the input its schedule sends (older_than 0: every object counts)."""
    payload = {"older_than_minutes": 0, "max_objects": 100, "max_redrives": 2, **options}
    resp = harness.stack.client("lambda").invoke(
        FunctionName=harness.stack.outputs["SweepFunctionName"], Payload=json.dumps(payload).encode()
    )
    body = json.loads(resp["Payload"].read())
    assert "FunctionError" not in resp, body
    harness.stack.wait_idle(timeout=120)
    return body


def _rule(harness: Harness) -> str:
    events = harness.stack.client("events")
    return next(r["Name"] for r in events.list_rules()["Rules"] if "S3Upload" in r["Name"])


def _sweep_until_clean(harness: Harness) -> None:
    # Other tests in this module may have left objects behind; start each test from an empty incoming/.
    while harness.keys("incoming/"):
        sweep(harness)


def _kill_during_sort(harness: Harness, key: str, data: bytes) -> str:
    """Upload, let Record write the record, then abort the execution while Sort hangs (as the time limit would)."""
    runner = harness.stack.runner
    assert runner is not None
    sort_fn = next(s.name for s in runner.specs.values() if "SortFunction" in s.name)
    runner.inject(sort_fn, "hang")
    before = set(harness.stack.executions())
    harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=data)
    assert runner.hung.wait(60), "Sort never started"
    (arn,) = set(harness.stack.executions()) - before
    harness.stack.client("stepfunctions").stop_execution(executionArn=arn, error="States.Timeout", cause="killed")
    runner.release()
    harness.stack.wait_idle(timeout=60)
    return arn


def test_an_execution_killed_after_record_is_completed(harness: Harness) -> None:
    _sweep_until_clean(harness)
    key, data = harness.unique("killed-in-sort.png"), variant("chelsea", 1201)
    _kill_during_sort(harness, key, data)
    assert key in harness.keys("incoming/")  # stuck: recorded as sorted, never moved
    record = harness.record_for(key)
    assert record is not None and record.status is Status.SORTED

    report = sweep(harness)

    assert report["completed"] == [key] and report["stuck"] == 1
    assert key not in harness.keys("incoming/")
    assert harness.s3.get_object(Bucket=harness.stack.bucket, Key=record.destination_key)["Body"].read() == data
    assert harness.record_for(key) == record  # one record, unchanged
    again = sweep(harness)
    assert again["stuck"] == 0 and not again["redriven"] and not again["completed"]


def test_an_upload_whose_event_never_started_an_execution_is_redriven(harness: Harness) -> None:
    _sweep_until_clean(harness)
    events = harness.stack.client("events")
    rule = _rule(harness)
    events.disable_rule(Name=rule)  # EventBridge gave up: no execution at all
    try:
        key, data = harness.unique("never-started.png"), variant("chelsea", 1202)
        harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=data)
        assert harness.record_for(key) is None
    finally:
        events.enable_rule(Name=rule)

    report = sweep(harness)

    assert report["redriven"] == [key]
    record = harness.record_for(key)
    assert record is not None and record.status is Status.SORTED
    assert key not in harness.keys("incoming/")
    assert harness.keys_with_hash(record.destination_key.rsplit("-", 1)[1].split(".")[0]) == [record.destination_key]


def test_an_object_redriven_too_often_is_quarantined(harness: Harness) -> None:
    _sweep_until_clean(harness)
    events = harness.stack.client("events")
    rule = _rule(harness)
    events.disable_rule(Name=rule)
    key = harness.unique("claimed.png")
    try:
        harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=variant("chelsea", 1203))
        time.sleep(1.1)
        first = sweep(harness, older_than_minutes=0.01, max_redrives=0)  # quarantined at once: attempt 1 > 0
    finally:
        events.enable_rule(Name=rule)
    assert first["quarantined"] == [key]
    record = harness.record_for(key)
    assert record is not None and record.status is Status.FAILED and record.reason.startswith("StuckInIncoming")
    assert record.destination_key.startswith("failed/") and key not in harness.keys("incoming/")


def test_a_run_is_bounded_and_says_so(harness: Harness) -> None:
    _sweep_until_clean(harness)
    events = harness.stack.client("events")
    rule = _rule(harness)
    events.disable_rule(Name=rule)
    try:
        keys = [harness.unique(f"many-{i}.png") for i in range(3)]
        for i, key in enumerate(keys):
            harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=variant("chelsea", 1210 + i))
    finally:
        events.enable_rule(Name=rule)

    first = sweep(harness, max_objects=2)
    assert first["stuck"] == 3 and len(first["redriven"]) == 2 and first["truncated"] is True
    second = sweep(harness, max_objects=2)
    assert second["stuck"] == 1 and len(second["redriven"]) == 1 and not second["truncated"]
    assert not harness.keys("incoming/")
    assert all(harness.record_for(k) is not None for k in keys)


def test_every_run_is_recorded(harness: Harness) -> None:
    ddb = harness.stack.client("dynamodb")
    runs = ddb.query(
        TableName=harness.stack.table,
        KeyConditionExpression="PK = :pk",
        ExpressionAttributeValues={":pk": {"S": "SWEEP"}},
    )["Items"]
    assert runs, "no sweep run summary in the table"
    summaries = [json.loads(r["summary"]["S"]) for r in runs]
    assert any(s["redriven"] for s in summaries) and all("scanned" in s for s in summaries)


def test_claims_make_overlapping_runs_idempotent(harness: Harness) -> None:
    from datetime import UTC, datetime, timedelta

    from photosort.sweeper import SweepLedger

    ledger = SweepLedger(harness.stack.client("dynamodb"), harness.stack.table)
    now = datetime.now(UTC)
    cooldown = timedelta(minutes=15)
    assert ledger.claim("b", "incoming/x.png", "etag1", now, cooldown) == 1
    assert ledger.claim("b", "incoming/x.png", "etag1", now + timedelta(minutes=1), cooldown) is None  # overlapping
    assert ledger.claim("b", "incoming/x.png", "etag1", now + timedelta(minutes=16), cooldown) == 2
    assert ledger.claim("b", "incoming/x.png", "etag2", now, cooldown) == 1  # a new upload at the same key
