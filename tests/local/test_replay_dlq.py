"""``photosort replay-dlq`` against moto: explicit names, already-replayed messages, loud failures; endpoints."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort_local import endpoints
from photosort_local.cli import main, replay_dlq

EVENT = json.loads((Path(__file__).resolve().parents[2] / "events" / "s3_object_created.json").read_text())
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any, str, str]]:
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        sfn = boto3.client("stepfunctions", region_name="us-east-1")
        queue = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        machine = sfn.create_state_machine(
            name="sort", definition=DEFINITION, roleArn="arn:aws:iam::123456789012:role/x", type="EXPRESS"
        )["stateMachineArn"]
        yield sqs, sfn, queue, machine


def _send(sqs: Any, queue: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        event = json.loads(json.dumps(EVENT))
        event["detail"]["object"]["key"] = f"incoming/{i}.jpg"
        ids.append(sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))["MessageId"])
    return ids


def _depth(sqs: Any, queue: str) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_every_message_gets_its_own_named_execution(aws: tuple[Any, Any, str, str]) -> None:
    sqs, sfn, queue, machine = aws
    ids = _send(sqs, queue, 3)
    done = replay_dlq.drain(sqs, sfn, queue, machine)
    assert sorted(done.started) == sorted(f"dlq-{i}" for i in ids)
    names = {e["name"] for e in sfn.list_executions(stateMachineArn=machine)["executions"]}
    assert names == {f"dlq-{i}" for i in ids}
    assert _depth(sqs, queue) == 0


def test_a_message_replayed_before_is_deleted_not_started_twice(aws: tuple[Any, Any, str, str]) -> None:
    sqs, sfn, queue, machine = aws
    (message_id,) = _send(sqs, queue, 1)
    sfn.start_execution(stateMachineArn=machine, name=f"dlq-{message_id}", input=json.dumps(EVENT))
    done = replay_dlq.drain(sqs, sfn, queue, machine)
    assert done.already == [f"dlq-{message_id}"] and done.started == []
    assert len(sfn.list_executions(stateMachineArn=machine)["executions"]) == 1
    assert _depth(sqs, queue) == 0


def test_a_failure_stops_loudly_and_keeps_the_message(aws: tuple[Any, Any, str, str], capsys: Any) -> None:
    sqs, _sfn, queue, machine = aws
    _send(sqs, queue, 2)
    missing = machine.replace(":sort", ":gone")
    code = main(["replay-dlq", "--queue-url", queue, "--state-machine-arn", missing])
    assert code == 1
    assert "stays in the queue" in capsys.readouterr().err
    assert _depth(sqs, queue) == 2


def test_a_message_that_is_not_an_s3_event_is_kept(aws: tuple[Any, Any, str, str]) -> None:
    sqs, sfn, queue, machine = aws
    sqs.send_message(QueueUrl=queue, MessageBody="not json")
    with pytest.raises(replay_dlq.ReplayError, match="not JSON"):
        replay_dlq.drain(sqs, sfn, queue, machine)
    assert _depth(sqs, queue) == 1


def test_local_endpoint_gets_region_and_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    session = endpoints.session("http://127.0.0.1:5000", None)
    assert session.region_name == "us-east-1" and session.get_credentials() is not None
    with pytest.raises(endpoints.AwsSetupError, match="AWS_DEFAULT_REGION"):
        endpoints.session("https://dynamodb.eu-west-1.amazonaws.com", None)
    with pytest.raises(endpoints.AwsSetupError, match="AWS_PROFILE"):
        endpoints.session(None, "eu-west-1")
