"""The local-only adapters on their own: template packaging, the in-process Lambda runner, the EventBridge
bridge, the DynamoDB atomicity fix and the moto version pin."""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from photosort_local import MOTO_VERSION, moto_patches, moto_pin, sam
from photosort_local.lambda_runner import FunctionSpec, LambdaRunner
from photosort_local.stack import MOTO_CONFIG, TEMPLATE

REGION = "us-east-1"


# -- template packaging --------------------------------------------------------------------------------------
def test_package_inlines_the_definition_and_points_code_at_artifacts() -> None:
    packaged, uploads = sam.package(TEMPLATE)

    resources = packaged.template["Resources"]
    machine = resources["PhotoWorkflow"]["Properties"]
    assert "ClassifyFunctionArn" in machine["DefinitionSubstitutions"]
    assert "${ClassifyFunctionArn}" in json.dumps(machine["DefinitionString"])
    code = resources["ClassifyFunction"]["Properties"]["Code"]
    assert code == {"S3Bucket": sam.ARTIFACTS_BUCKET, "S3Key": "functions/ClassifyFunction.zip"}
    assert packaged.functions["ClassifyFunction"].source_dir == TEMPLATE.parent / "functions" / "classify"
    names = zipfile.ZipFile(io.BytesIO(uploads["functions/ClassifyFunction.zip"])).namelist()
    assert names == ["app.py"]
    assert {"CoreLayer", "ImagingLayer", "ModelLayer"} <= set(packaged.layers)


# -- in-process Lambda runner --------------------------------------------------------------------------------
HANDLER = """
import os, time
SEEN_AT_IMPORT = os.environ.get("GREETING")

class BoomError(Exception):
    pass

def handler(event, context):
    if event.get("boom"):
        raise BoomError("it broke")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    print("log line from", context.function_name)
    return {"greeting": SEEN_AT_IMPORT, "name": context.function_name,
            "remaining_ok": 0 < context.get_remaining_time_in_millis() <= 1000, "echo": event.get("value")}
"""


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[LambdaRunner]:
    for name in ("one", "two"):
        folder = tmp_path / name
        folder.mkdir()
        (folder / "app.py").write_text(HANDLER)
    run = LambdaRunner(log_dir=tmp_path / "logs")
    for name, greeting in (("one", "hello"), ("two", "bonjour")):
        run.register(
            FunctionSpec(
                name=name,
                arn=f"arn:aws:lambda:{REGION}:123456789012:function:{name}",
                code_dir=tmp_path / name,
                handler="app.handler",
                layer_dirs=[],
                environment={"GREETING": greeting},
                timeout=1,
            )
        )
    yield run
    run.close()


def test_runner_imports_each_function_with_its_environment(runner: LambdaRunner) -> None:
    one = json.loads(runner.invoke("one", json.dumps({"value": 1})).payload)
    two = json.loads(runner.invoke("arn:aws:lambda:us-east-1:123456789012:function:two", b"{}").payload)

    assert one == {"greeting": "hello", "name": "one", "remaining_ok": True, "echo": 1}
    assert two["greeting"] == "bonjour"  # both are app.py; neither shadows the other


def test_runner_reports_errors_in_lambdas_shape(runner: LambdaRunner) -> None:
    result = runner.invoke("one", json.dumps({"boom": True}))

    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert body["errorType"] == "BoomError" and body["errorMessage"] == "it broke"


def test_runner_honours_the_timeout(runner: LambdaRunner) -> None:
    result = runner.invoke("one", json.dumps({"sleep": 1.5}))

    assert result.function_error == "Unhandled"
    body = json.loads(result.payload)
    assert "errorType" not in body  # untyped, as AWS reports a timeout: Step Functions names it Lambda.Unknown
    assert "Task timed out after" in body["errorMessage"]


def test_runner_writes_each_functions_log(runner: LambdaRunner, tmp_path: Path) -> None:
    runner.invoke("one", b"{}")
    assert "log line from one" in (tmp_path / "logs" / "one.log").read_text()


def test_a_missing_handler_is_an_import_error(tmp_path: Path) -> None:
    run = LambdaRunner(log_dir=tmp_path)
    run.register(
        FunctionSpec(name="x", arn="arn:x", code_dir=tmp_path, handler="nope.handler", layer_dirs=[], environment={})
    )
    assert json.loads(run.invoke("x", b"{}").payload)["errorType"] == "Runtime.ImportModuleError"


# -- EventBridge -> Step Functions bridge --------------------------------------------------------------------
PASS_MACHINE = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    moto_patches.install()
    with mock_aws(config=MOTO_CONFIG):
        clients = {s: boto3.client(s, region_name=REGION) for s in ("s3", "events", "stepfunctions", "sqs")}
        clients["s3"].create_bucket(Bucket="photos")
        clients["s3"].put_bucket_notification_configuration(
            Bucket="photos", NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        yield clients


def _rule(aws: dict[str, Any], target_arn: str, dlq_arn: str | None = None) -> None:
    aws["events"].put_rule(
        Name="r",
        EventPattern=json.dumps(
            {
                "source": ["aws.s3"],
                "detail-type": ["Object Created"],
                "detail": {"bucket": {"name": ["photos"]}, "object": {"key": [{"prefix": "incoming/"}]}},
            }
        ),
    )
    target = {"Id": "t", "Arn": target_arn, "RoleArn": "arn:aws:iam::123456789012:role/r"}
    if dlq_arn:
        target["DeadLetterConfig"] = {"Arn": dlq_arn}
    aws["events"].put_targets(Rule="r", Targets=[target])


def test_an_upload_under_the_prefix_starts_one_execution_with_the_s3_event(aws: dict[str, Any]) -> None:
    machine = aws["stepfunctions"].create_state_machine(
        name="m", definition=PASS_MACHINE, roleArn="arn:aws:iam::123456789012:role/r"
    )["stateMachineArn"]
    _rule(aws, machine)
    started: list[tuple[str, dict]] = []

    def listener(arn: str, event: dict) -> None:
        started.append((arn, event))

    moto_patches.add_execution_listener(listener)
    try:
        aws["s3"].put_object(Bucket="photos", Key="incoming/a b+c.jpg", Body=b"1")
        aws["s3"].put_object(Bucket="photos", Key="incoming/a b+c.jpg", Body=b"2")
        aws["s3"].put_object(Bucket="photos", Key="albums/x.jpg", Body=b"3")
    finally:
        moto_patches.remove_execution_listener(listener)

    assert len(started) == 2  # albums/ does not match the rule
    first, second = (event["detail"]["object"] for _, event in started)
    assert first["key"] == "incoming/a+b%2Bc.jpg"  # URL-encoded, as S3 sends it
    assert first["sequencer"] != second["sequencer"]
    execution = aws["stepfunctions"].describe_execution(executionArn=started[0][0])
    assert json.loads(execution["input"])["detail"]["object"]["key"] == "incoming/a+b%2Bc.jpg"


def test_an_event_that_cannot_start_an_execution_goes_to_the_dead_letter_queue(aws: dict[str, Any]) -> None:
    queue = aws["sqs"].create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = aws["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _rule(aws, f"arn:aws:states:{REGION}:123456789012:stateMachine:missing", dlq_arn)

    aws["s3"].put_object(Bucket="photos", Key="incoming/x.jpg", Body=b"1")

    messages = aws["sqs"].receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(messages[0]["Body"])["detail"]["object"]["key"] == "incoming/x.jpg"
    assert messages[0]["MessageAttributes"]["RULE_ARN"]["StringValue"].endswith("rule/r")


# -- DynamoDB atomicity ----------------------------------------------------------------------------------------
@pytest.fixture
def db() -> Iterator[Any]:
    """A DynamoDB client with an empty table "t" (hash key PK), the adapters installed."""
    moto_patches.install()
    with mock_aws():
        db = boto3.client("dynamodb", region_name=REGION)
        db.create_table(
            TableName="t",
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
        )
        yield db


def test_concurrent_conditional_writes_let_exactly_one_win(db: Any) -> None:
    wins: list[int] = []

    def claim(i: int) -> None:
        try:
            db.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": "t",
                            "Item": {"PK": {"S": "claim"}, "by": {"N": str(i)}},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                ]
            )
            wins.append(i)
        except ClientError:
            pass

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert db.get_item(TableName="t", Key={"PK": {"S": "claim"}})["Item"]["by"]["N"] == str(wins[0])


def test_a_failed_transaction_undoes_only_its_own_items(db: Any) -> None:
    db.put_item(TableName="t", Item={"PK": {"S": "taken"}})
    db.put_item(TableName="t", Item={"PK": {"S": "other"}, "v": {"N": "1"}})
    with pytest.raises(ClientError, match="TransactionCanceled"):
        db.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": "t", "Item": {"PK": {"S": "new"}}}},
                {
                    "Put": {
                        "TableName": "t",
                        "Item": {"PK": {"S": "taken"}},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
    keys = {i["PK"]["S"] for i in db.scan(TableName="t")["Items"]}
    assert keys == {"taken", "other"}  # "new" rolled back, the rest untouched


def test_the_adapters_refuse_another_moto_version() -> None:
    moto_pin.check_version(MOTO_VERSION)
    with pytest.raises(moto_pin.MotoVersionError, match=MOTO_VERSION):
        moto_pin.check_version("5.3.0")


# -- speed adapters (10-12) ------------------------------------------------------------------------------------
RETRY_MACHINE = json.dumps(
    {
        "StartAt": "Add",
        "States": {
            "Add": {
                "Type": "Pass",
                "Parameters": {"n.$": "$.n", "seen.$": "States.ArrayLength($.items)", "items.$": "$.items"},
                "ResultPath": "$.out",
                "Next": "Check",
            },
            "Check": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericGreaterThan": 1, "Next": "Big"}],
                "Default": "Small",
            },
            "Big": {"Type": "Pass", "Result": "big", "ResultPath": "$.size", "End": True},
            "Small": {"Type": "Pass", "Result": "small", "ResultPath": "$.size", "End": True},
        },
    }
)


def _wait_output(sfn: Any, arn: str) -> dict[str, Any]:
    import time

    for _ in range(400):
        desc = sfn.describe_execution(executionArn=arn)
        if desc["status"] != "RUNNING" and desc.get("output"):
            return json.loads(desc["output"])
        time.sleep(0.025)
    raise AssertionError(f"{arn} did not finish")


def test_executions_reuse_parsed_programs_and_keep_their_own_state(aws: dict[str, Any], monkeypatch) -> None:
    """A pooled program gives every execution its own result, serially and concurrently, and is parsed
    once per concurrent execution, not once per execution."""
    from moto.stepfunctions.parser.backend import execution_worker

    parses: list[str] = []
    real_parse = execution_worker.AmazonStateLanguageParser.parse

    def counting(definition: str) -> Any:
        parses.append(definition)
        return real_parse(definition)

    monkeypatch.setattr(execution_worker.AmazonStateLanguageParser, "parse", staticmethod(counting))
    sfn = aws["stepfunctions"]
    machine = sfn.create_state_machine(name="m2", definition=RETRY_MACHINE, roleArn="arn:aws:iam::123456789012:role/r")
    serial = []
    for n in range(6):
        arn = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name=f"serial-{n}",
            input=json.dumps({"n": n, "items": list(range(n))}),
        )["executionArn"]
        serial.append(_wait_output(sfn, arn))
    assert [(o["out"]["seen"], o["size"]) for o in serial] == [(n, "big" if n > 1 else "small") for n in range(6)]
    assert len(parses) <= 2  # the first execution parsed it; later ones took it back from the pool

    arns = [
        sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"],
            name=f"parallel-{n}",
            input=json.dumps({"n": n, "items": [n] * n}),
        )["executionArn"]
        for n in range(8)
    ]
    outputs = [_wait_output(sfn, arn) for arn in arns]
    assert [(o["n"], o["out"]["items"]) for o in outputs] == [(n, [n] * n) for n in range(8)]


def test_end_listeners_hear_each_execution_end_once_its_output_is_set(aws: dict[str, Any]) -> None:
    """The local sort's workers sleep until an execution ends: the listener must not come before the output."""
    from moto.stepfunctions.responses import get_backend

    sfn = aws["stepfunctions"]
    machine = sfn.create_state_machine(name="m3", definition=RETRY_MACHINE, roleArn="arn:aws:iam::123456789012:role/r")
    backend = get_backend("123456789012", REGION)
    ended = threading.Semaphore(0)
    seen: list[tuple[str, bool]] = []

    def listener() -> None:
        for execution in backend.describe_state_machine(machine["stateMachineArn"]).executions:
            if execution.status != "RUNNING":
                seen.append((execution.execution_arn, execution.output is not None))
        ended.release()

    moto_patches.add_end_listener(listener)
    try:
        arns = [
            sfn.start_execution(
                stateMachineArn=machine["stateMachineArn"], name=f"e{n}", input=json.dumps({"n": n, "items": []})
            )["executionArn"]
            for n in range(3)
        ]
        for _ in arns:
            assert ended.acquire(timeout=30)
    finally:
        moto_patches.remove_end_listener(listener)
    assert {arn for arn, _ in seen} == set(arns)
    assert all(has_output for _, has_output in seen)
    assert not ended.acquire(timeout=0.2)  # one call per execution, and none once removed


def test_the_engine_reuses_one_lambda_client_per_region() -> None:
    from moto.stepfunctions.parser.asl.component.state.exec.state_task import lambda_eval_utils

    moto_patches.install()
    with mock_aws():
        first = lambda_eval_utils.boto_client_for(region=REGION, service="lambda", state_credentials=None)
        again = lambda_eval_utils.boto_client_for(region=REGION, service="lambda", state_credentials=object())
        other = lambda_eval_utils.boto_client_for(region="eu-west-1", service="lambda", state_credentials=None)
    assert first is again
    assert other is not first and other.meta.region_name == "eu-west-1"


def test_state_data_copies_are_deep_and_equal() -> None:
    class Opaque:
        def __init__(self) -> None:
            self.items = [1]

    value = {"a": [1, {"b": "x", "c": None, "d": 1.5, "e": True}], "f": Opaque()}
    copied = moto_patches.json_copy(value)
    assert copied["a"] == value["a"]
    assert copied["a"] is not value["a"] and copied["a"][1] is not value["a"][1]
    copied["a"][1]["b"] = "changed"
    assert value["a"][1]["b"] == "x"
    assert copied["f"] is not value["f"] and copied["f"].items == [1]  # anything else: copy.deepcopy
