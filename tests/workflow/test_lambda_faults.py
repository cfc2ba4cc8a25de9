"""Each Retry and Catch of the workflow, driven by the failures AWS would report (named as AWS names them).

The in-process runner throttles (the Invoke API's TooManyRequestsException, ``Lambda.TooManyRequestsException``)
or crashes (an untyped runtime failure, ``Lambda.Unknown``) on demand; DynamoDB throttles through moto.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from photosort.models import Status
from photosort_local.lambda_errors import aws_error_name
from tests.support.harness import Harness
from tests.workflow.test_workflow import variant


def _function(harness: Harness, logical: str) -> str:
    assert harness.stack.runner is not None
    names = {s.name for s in harness.stack.runner.specs.values()}
    return next(n for n in names if logical in n)


def _failures(harness: Harness, arn: str) -> list[str]:
    """Error names of the failed Lambda tasks in an execution's history, in order."""
    events = harness.stack.client("stepfunctions").get_execution_history(executionArn=arn)["events"]
    return [e["lambdaFunctionFailedEventDetails"]["error"] for e in events if "lambdaFunctionFailedEventDetails" in e]


def test_error_names_follow_aws() -> None:
    assert aws_error_name(None, "TooManyRequestsException") == "Lambda.TooManyRequestsException"
    assert aws_error_name(json.dumps({"errorMessage": "Task timed out after 5.00 seconds"}), None) == "Lambda.Unknown"
    assert aws_error_name(json.dumps({"errorType": "StoreBusyError", "errorMessage": "x"}), None) == "StoreBusyError"


def test_a_throttled_classify_is_retried_and_the_photo_sorted(harness: Harness) -> None:
    harness.stack.runner.inject(_function(harness, "ClassifyFunction"), "throttle", times=2)  # type: ignore[union-attr]
    result = harness.upload(harness.unique("throttled.png"), variant("chelsea", 901))
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.SORTED
    assert _failures(harness, result.outcome.arn) == ["Lambda.TooManyRequestsException"] * 2


def test_a_classify_throttled_past_its_retries_is_quarantined(harness: Harness) -> None:
    harness.stack.runner.inject(_function(harness, "ClassifyFunction"), "throttle", times=4)  # type: ignore[union-attr]
    key = harness.unique("always-throttled.png")
    result = harness.upload(key, variant("chelsea", 902))
    assert result.outcome.status == "FAILED"
    assert result.record is not None and result.record.status is Status.FAILED
    assert result.record.reason.startswith("Lambda.TooManyRequestsException")
    assert result.record.destination_key.startswith("failed/") and key not in harness.keys("incoming/")


def test_a_crashed_classify_is_retried_once(harness: Harness) -> None:
    harness.stack.runner.inject(_function(harness, "ClassifyFunction"), "crash")  # type: ignore[union-attr]
    result = harness.upload(harness.unique("crash-once.png"), variant("chelsea", 903))
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.SORTED
    assert _failures(harness, result.outcome.arn) == ["Lambda.Unknown"]


def test_a_classify_that_keeps_crashing_ends_in_failed(harness: Harness) -> None:
    harness.stack.runner.inject(_function(harness, "ClassifyFunction"), "crash", times=2)  # type: ignore[union-attr]
    key = harness.unique("out-of-memory.png")
    result = harness.upload(key, variant("chelsea", 904))
    assert result.outcome.status == "FAILED"
    assert result.record is not None and result.record.status is Status.FAILED
    assert result.record.reason.startswith("Lambda.Unknown")
    assert "out of memory" in (result.record.error or "")
    assert key not in harness.keys("incoming/")


@pytest.fixture
def throttled_dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The next 3 PutItem calls (Record's record put) are throttled, as DynamoDB does when a partition is hot: more
    than the SDK's own attempts (photosort.aws_config), so one Record attempt ends in StoreBusyError."""
    from moto.dynamodb.exceptions import DynamodbException
    from moto.dynamodb.models import DynamoDBBackend

    from photosort.aws_config import DYNAMODB_MAX_ATTEMPTS

    original = DynamoDBBackend.put_item
    thrown: list[str] = []

    def put_item(self: Any, *args: Any, **kwargs: Any) -> Any:
        if len(thrown) < DYNAMODB_MAX_ATTEMPTS:
            thrown.append("throttled")
            raise DynamodbException(
                "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException",
                "The level of configured provisioned throughput for the table was exceeded.",
            )
        return original(self, *args, **kwargs)

    monkeypatch.setattr(DynamoDBBackend, "put_item", put_item)
    yield thrown


def test_dynamodb_throttling_is_a_retried_store_busy_error(harness: Harness, throttled_dynamodb: list[str]) -> None:
    result = harness.upload(harness.unique("hot-partition.png"), variant("chelsea", 905))
    assert len(throttled_dynamodb) == 3
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.SORTED
    assert _failures(harness, result.outcome.arn) == ["StoreBusyError"]


def _outcome(call: Any) -> Any:
    from botocore.exceptions import ClientError

    try:
        return call()
    except ClientError as exc:
        # what the engine reads of it (the client's str() adds "(reached max retries: 0)" to a throttle)
        return ("ClientError", exc.response["Error"]["Code"], exc.response["Error"]["Message"])


def test_the_engines_lambda_tasks_get_what_the_lambda_client_returns(harness: Harness) -> None:
    """moto speed adapter 25 answers the engine's Invoke from moto's Lambda backend: the same answers as
    through the client, for a result, a function error, a throttle and a function that does not exist."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    direct = lambda_eval_utils._invoke_lambda_function
    through_client = direct.__wrapped__  # type: ignore[attr-defined]
    region = harness.stack.region
    name = _function(harness, "ClassifyFunction")
    assert harness.stack.runner is not None
    arn = harness.stack.runner.specs[name].arn
    cases = [
        {"FunctionName": arn, "Payload": json.dumps({"not": "a photo"}).encode()},  # the handler rejects it
        {"FunctionName": name, "Payload": b"{}", "Qualifier": "$LATEST"},
        {"FunctionName": arn + "-missing", "Payload": b"{}"},
    ]
    for parameters in cases:
        ours = _outcome(lambda p=parameters: direct(dict(p), region, None))
        theirs = _outcome(lambda p=parameters: through_client(dict(p), region, None))
        if isinstance(theirs, dict):
            theirs = {k: v for k, v in theirs.items() if k in ("StatusCode", "FunctionError", "Payload")}
            assert theirs["StatusCode"] == 200
            for answer in (ours, theirs):  # the traceback (who called the runner) and the request id differ
                if isinstance(answer["Payload"], dict):
                    answer["Payload"].pop("stackTrace", None)
                    answer["Payload"].pop("requestId", None)
        assert ours == theirs, parameters
    assert _outcome(lambda: direct(dict(cases[2]), region, None))[1] == "ResourceNotFoundException"
    outcomes = []
    for call in (direct, through_client):
        harness.stack.runner.inject(name, "throttle")
        outcomes.append(_outcome(lambda c=call: c(dict(cases[0]), region, None)))
    assert outcomes[0] == outcomes[1] and outcomes[0][1] == "TooManyRequestsException"
