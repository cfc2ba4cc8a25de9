"""The speed adapters 13-22 (``photosort_local.moto_speed``): moto answers the same, with less work."""

from __future__ import annotations

import gc
import io
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


def _live(cls: type) -> int:
    gc.collect()
    return sum(1 for o in gc.get_objects() if type(o) is cls)


def test_a_deleted_s3_object_and_its_bytes_are_freed() -> None:
    from moto.s3.models import FakeKey

    moto_patches.install()
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bucket-b")
        s3.put_object(Bucket="bucket-b", Key="kept", Body=b"k")
        before = _live(FakeKey)
        for i in range(20):
            s3.put_object(Bucket="bucket-b", Key=f"gone{i}", Body=b"x" * 100_000)
            s3.copy_object(Bucket="bucket-b", Key=f"copy{i}", CopySource={"Bucket": "bucket-b", "Key": f"gone{i}"})
            s3.delete_object(Bucket="bucket-b", Key=f"gone{i}")
            s3.delete_object(Bucket="bucket-b", Key=f"copy{i}")
        assert _live(FakeKey) <= before  # moto alone keeps all 40 (and their 4 MB)
        tracked = list(FakeKey.instances_tracked)  # type: ignore[attr-defined]
        assert any(k.name == "kept" for k in tracked) and not any(k.name.startswith("gone") for k in tracked)
        assert s3.get_object(Bucket="bucket-b", Key="kept")["Body"].read() == b"k"


def test_the_engine_forgets_its_finished_threads() -> None:
    import json
    import time

    from moto.stepfunctions.parser.utils import TMP_THREADS

    from photosort_local.stack import MOTO_CONFIG

    moto_patches.install()
    with mock_aws(config=MOTO_CONFIG):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="m",
            definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
            roleArn="arn:aws:iam::123456789012:role/r",
        )["stateMachineArn"]
        arns = [sfn.start_execution(stateMachineArn=machine, name=f"e{i}")["executionArn"] for i in range(30)]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if all(sfn.describe_execution(executionArn=a)["status"] == "SUCCEEDED" for a in arns):
                break
            time.sleep(0.05)
        time.sleep(0.2)
    assert len([t for t in TMP_THREADS if not t.is_alive()]) < 5  # moto alone keeps 2 per execution


def test_the_engine_parses_each_json_path_once_and_finds_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.utils import json_path

    moto_patches.install()
    data = {"a": {"b": [1, 2, {"c": "x"}]}, "d": "e"}
    paths = ["$.a.b[2].c", "$.a.b[*]", "$.a.b[0]", "$.d", "$"]
    assert json_path.parse("$.a.b[2].c") is json_path.parse("$.a.b[2].c")
    cached = [json_path.extract_json(p, data) for p in paths]
    with pytest.raises(json_path.NoSuchJsonPathError):
        json_path.extract_json("$.a.missing", data)
    monkeypatch.setattr(json_path, "parse", json_path.parse.__wrapped__)  # moto's own, parsing every time
    assert [json_path.extract_json(p, data) for p in paths] == cached


def test_the_sort_workers_upload_stores_what_a_default_upload_stores() -> None:
    """The local sort uploads without a flexible checksum (moto holds fewer copies of the body): S3 keeps the
    same bytes, ETag and size as after botocore's default, checksummed, aws-chunked upload."""
    from types import SimpleNamespace

    from photosort_local.localsort.workers import _upload_client

    body = bytes(range(256)) * 9000  # 2.3 MB: botocore sends it in several aws-chunked chunks by default
    with mock_aws():
        default = boto3.client("s3", region_name=REGION)
        default.create_bucket(Bucket="photos")
        upload = _upload_client(SimpleNamespace(region=REGION))
        sent: dict[str, str] = {}
        for name, client in (("default", default), ("upload", upload)):

            def capture(name: str = name, **kwargs: Any) -> None:
                sent.setdefault(name, str(kwargs["request"].headers.get("x-amz-content-sha256", b""), "ascii"))

            client.meta.events.register_first("before-send.s3.PutObject", capture)
        default.put_object(Bucket="photos", Key="default", Body=body)
        upload.put_object(Bucket="photos", Key="upload", Body=body)
        stored = {key: default.get_object(Bucket="photos", Key=key) for key in ("default", "upload")}
    assert stored["upload"]["Body"].read() == stored["default"]["Body"].read() == body
    assert stored["upload"]["ETag"] == stored["default"]["ETag"]
    assert stored["upload"]["ContentLength"] == stored["default"]["ContentLength"] == len(body)
    assert sent["default"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"  # what moto decodes chunk by chunk
    assert sent["upload"] != "STREAMING-UNSIGNED-PAYLOAD-TRAILER"


RICH_ITEM = {
    "PK": {"S": "RICH"},
    "SK": {"S": "IMAGE"},
    "embedding": {"L": [{"N": str(i / 7)} for i in range(64)]},
    "labels": {"L": [{"M": {"name": {"S": "cat"}, "score": {"N": "0.91"}, "ok": {"BOOL": True}}}, {"NULL": True}]},
    "tags": {"SS": ["a", "b"]},
    "sizes": {"NS": ["1", "2.5"]},
    "blob": {"B": b"\x00\x01bytes"},
    "blobs": {"BS": [b"x", b"\xff"]},
    "empty": {"S": ""},
    "nested": {"M": {"inner": {"L": [{"L": [{"S": "deep"}]}, {"M": {}}, {"L": []}]}}},
    "flag": {"BOOL": False},
}


def _reads(db: Any) -> list[Any]:
    key = {"PK": {"S": "RICH"}, "SK": {"S": "IMAGE"}}
    answers = [
        db.get_item(TableName="t", Key=key),
        db.get_item(
            TableName="t",
            Key=key,
            ProjectionExpression="embedding[2], labels, #b",
            ExpressionAttributeNames={"#b": "blob"},
        ),
        db.query(TableName="t", KeyConditionExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "RICH"}}),
        db.scan(TableName="t", FilterExpression="PK = :p", ExpressionAttributeValues={":p": {"S": "RICH"}}),
        db.batch_get_item(RequestItems={"t": {"Keys": [key]}}),
        db.transact_get_items(TransactItems=[{"Get": {"TableName": "t", "Key": key}}]),
        db.update_item(
            TableName="t",
            Key=key,
            UpdateExpression="SET flag = :f",
            ExpressionAttributeValues={":f": {"BOOL": True}},
            ReturnValues="ALL_OLD",
        ),
    ]
    for answer in answers:
        answer.pop("ResponseMetadata", None)
    return answers


def test_dynamodb_items_serialise_as_moto_serialises_them(table: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core.serialize import BaseJSONSerializer

    fast = BaseJSONSerializer._serialize_type_structure
    calls = 0

    def counting(*args: Any) -> None:
        nonlocal calls
        calls += 1
        fast(*args)

    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", counting)
    table.put_item(TableName="t", Item=RICH_ITEM)
    patched = _reads(table)
    assert calls > 64  # every AttributeValue went through the adapter
    table.put_item(TableName="t", Item=RICH_ITEM)  # the update set flag: the same item again
    monkeypatch.setattr(BaseJSONSerializer, "_serialize_type_structure", fast.__wrapped__)
    assert _reads(table) == patched
    assert patched[0]["Item"] == RICH_ITEM and patched[-1]["Attributes"] == RICH_ITEM
    assert patched[1]["Item"] == {
        "embedding": {"L": [{"N": str(2 / 7)}]},
        "labels": RICH_ITEM["labels"],
        "blob": RICH_ITEM["blob"],
    }


TEMPLATE_WITH_SHORT_TAGS = """
Parameters:
  Stage: {Type: String, Default: "yes"}
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-q"
      Tags: [{Key: stage, Value: !Ref Stage}, {Key: n, Value: 1e5}, {Key: on, Value: on}]
Outputs:
  Arn: {Value: !GetAtt Queue.Arn}
  Both: {Value: !Join ["-", [!GetAtt [Queue, QueueName], !Select [0, !GetAZs ""]]]}
"""


@pytest.mark.parametrize("kind", ["yaml", "json", "stack", "broken"])
def test_moto_reads_a_template_body_as_its_own_loader_does(kind: str) -> None:
    import json

    from moto.cloudformation.models import Stack

    from photosort_local import moto_speed

    moto_speed.install()
    parse = Stack.parse_template
    original = parse.__wrapped__
    if kind == "stack":  # the stack's own template, as the embedded stack sends it
        from pathlib import Path

        body = (Path(__file__).parents[2] / "template.yaml").read_text(encoding="utf-8")
    else:
        body = {"yaml": TEMPLATE_WITH_SHORT_TAGS, "json": json.dumps({"A": [1, 2.5, "x"], "B": {"Ref": "C"}})}.get(
            kind, "{not: [yaml"
        )
    if kind == "broken":
        with pytest.raises(json.JSONDecodeError):
            original(body)
        with pytest.raises(json.JSONDecodeError):
            parse(body)
        return
    # repr: moto's tag constructor leaves the items of a list-form !GetAtt as YAML nodes (equal only by identity)
    assert repr(parse(body)) == repr(original(body))
    assert parse(body)  # and it read something


def test_the_sam_template_reads_as_samtranslator_reads_it() -> None:
    from pathlib import Path

    from samtranslator.yaml_helper import yaml_parse

    from photosort_local.sam import load_sam_template

    path = Path(__file__).parents[2] / "template.yaml"
    ours = load_sam_template(path)
    assert ours == yaml_parse(path.read_text(encoding="utf-8"))
    assert ours["Resources"] and "Fn::Sub" in json_text(ours)  # short tags read as their long forms


def json_text(data: Any) -> str:
    import json

    return json.dumps(data)


def test_moto_finds_a_response_class_s_methods_as_before_and_sees_new_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.core import responses
    from moto.s3.responses import S3Response

    from photosort_local import moto_speed

    moto_speed.install()
    names = responses.method_names_from_class
    assert names(S3Response) == names.__wrapped__(S3Response)
    assert "put_object" in names(S3Response) and "an_action_added_later" not in names(S3Response)
    monkeypatch.setattr(S3Response, "an_action_added_later", lambda self: None, raising=False)
    assert "an_action_added_later" in names(S3Response)
    assert names(S3Response) == names.__wrapped__(S3Response)


def test_botocore_user_agent_components_are_sanitised_as_before() -> None:
    from botocore import useragent

    from photosort_local import moto_speed

    moto_speed.install()
    cached = useragent.sanitize_user_agent_string_component
    for raw in ("Boto3", "1.40.1", "md/arch#x86_64", "m/A,B,Z", "spaces and (parens)", "ünïcode", ""):
        for allow_hash in (True, False):
            assert cached(raw, allow_hash) == cached.__wrapped__(raw, allow_hash)
    before = cached.cache_info().hits
    cached("md/arch#x86_64", True)
    assert cached.cache_info().hits == before + 1


def test_an_update_expression_is_parsed_once_and_updates_as_moto_does(table: Any) -> None:
    from botocore.exceptions import ClientError
    from moto.dynamodb.parsing.expressions import UpdateExpressionParser

    db = boto3.client("dynamodb", region_name=REGION)
    expression = "SET n = n + :one, tags = list_append(if_not_exists(tags, :empty), :t) REMOVE v"
    before = UpdateExpressionParser.make.cache_info()  # type: ignore[attr-defined]
    for i, key in enumerate(({"PK": {"S": "P0"}, "SK": {"S": "001#x"}}, {"PK": {"S": "P1"}, "SK": {"S": "003#x"}})):
        for round_ in range(2):  # the same expression again on an updated item: the cached tree was not changed
            db.update_item(
                TableName="t",
                Key=key,
                UpdateExpression=expression,
                ExpressionAttributeValues={
                    ":one": {"N": "1"},
                    ":empty": {"L": []},
                    ":t": {"L": [{"S": f"r{round_}"}]},
                },
            )
        item = db.get_item(TableName="t", Key=key)["Item"]
        assert item["n"] == {"N": str((1 + 2 * i) % 7 + 2)}
        assert item["tags"] == {"L": [{"S": "r0"}, {"S": "r1"}]}
        assert "v" not in item
    after = UpdateExpressionParser.make.cache_info()  # type: ignore[attr-defined]
    # two parses per UpdateItem (moto's response and its backend), one miss for the expression in all
    assert after.misses - before.misses <= 1
    assert after.hits - before.hits >= 7
    for _ in range(2):  # an expression that does not parse fails the same way every time
        with pytest.raises(ClientError) as failed:
            db.update_item(TableName="t", Key={"PK": {"S": "P0"}, "SK": {"S": "001#x"}}, UpdateExpression="SET = 1")
        assert failed.value.response["Error"]["Code"] == "ValidationException"


def _signed_pair(service: str, url: str, body: Any, headers: dict[str, str]) -> tuple[Any, Any]:
    """The same request signed by botocore's own SigV4 signer and by the embedded stack's unchecked one."""
    import copy

    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.crt import auth as crt_auth

    signer_cls = crt_auth.CrtS3SigV4Auth if service == "s3" else crt_auth.CrtSigV4Auth
    credentials = Credentials("AKIDEXAMPLE", "secret", "session-token")
    request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
    request.context["client_config"] = None
    real, fake = copy.deepcopy(request), copy.deepcopy(request)
    signer_cls.add_auth.originals[signer_cls](signer_cls(credentials, service, REGION), real)
    signer_cls(credentials, service, REGION).add_auth(fake)
    return real, fake


@pytest.mark.parametrize(
    ("service", "url", "body", "headers"),
    [
        ("dynamodb", "https://dynamodb.us-east-1.amazonaws.com/", b'{"TableName": "t"}', {"X-Amz-Target": "x"}),
        ("s3", "https://b.s3.amazonaws.com/k%20y", b"photo bytes" * 1000, {"Content-Type": "image/jpeg"}),
        ("s3", "https://b.s3.amazonaws.com/k", io.BytesIO(b"streamed"), {"Content-MD5": "abc"}),
    ],
)
def test_an_unchecked_request_carries_the_headers_sigv4_gives_it(
    service: str, url: str, body: Any, headers: dict[str, str]
) -> None:
    from photosort_local import moto_speed

    moto_speed.install()
    with mock_aws():
        real, fake = _signed_pair(service, url, body, headers)
    assert {k.lower() for k in fake.headers} == {k.lower() for k in real.headers}
    for name in real.headers:
        if name.lower() not in ("authorization", "x-amz-date"):
            assert fake.headers[name] == real.headers[name], name
    real_auth = dict(part.split("=", 1) for part in real.headers["Authorization"].split(" ", 1)[1].split(", "))
    fake_auth = dict(part.split("=", 1) for part in fake.headers["Authorization"].split(" ", 1)[1].split(", "))
    assert fake.headers["Authorization"].startswith("AWS4-HMAC-SHA256 ")
    assert fake_auth["SignedHeaders"] == real_auth["SignedHeaders"]
    assert fake_auth["Credential"].split("/")[0] == "AKIDEXAMPLE"
    assert fake_auth["Credential"].split("/")[2:] == [REGION, service, "aws4_request"]
    assert fake_auth["Signature"] == moto_speed.UNCHECKED_SIGNATURE != real_auth["Signature"]
    if hasattr(body, "read"):
        assert body.read() == b"streamed"  # the body was hashed and put back


def test_signatures_stay_real_where_something_checks_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from moto import settings

    from photosort_local import moto_speed

    moto_speed.install()
    args = ("dynamodb", "https://dynamodb.us-east-1.amazonaws.com/", b"{}", {})
    _real, outside_moto = _signed_pair(*args)  # no mock: the request would go to AWS
    assert moto_speed.UNCHECKED_SIGNATURE not in outside_moto.headers["Authorization"]
    with mock_aws():
        _real, elsewhere = _signed_pair("dynamodb", "http://localhost:5000/", b"{}", {})  # moto's server, say
        assert moto_speed.UNCHECKED_SIGNATURE not in elsewhere.headers["Authorization"]
        monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0.0)  # moto's access control on
        _real, checked = _signed_pair(*args)
        assert moto_speed.UNCHECKED_SIGNATURE not in checked.headers["Authorization"]
        monkeypatch.undo()
        from botocore.config import Config

        s3 = boto3.client(
            "s3",
            region_name=REGION,
            aws_access_key_id="AKIDEXAMPLE",
            aws_secret_access_key="secret",  # noqa: S106 - a fake key
            config=Config(signature_version="s3v4"),
        )
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
        assert "X-Amz-Signature=" in url and moto_speed.UNCHECKED_SIGNATURE not in url


def test_moto_reads_account_and_region_from_an_unchecked_request() -> None:
    from photosort_local import moto_speed

    moto_speed.install()
    with mock_aws():
        for region in ("us-east-1", "eu-west-1"):
            db = boto3.client("dynamodb", region_name=region)
            db.create_table(
                TableName=f"t-{region}",
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}],
            )
        west = boto3.client("dynamodb", region_name="eu-west-1")
        assert west.list_tables()["TableNames"] == ["t-eu-west-1"]
        arn = west.describe_table(TableName="t-eu-west-1")["Table"]["TableArn"]
        assert arn.startswith("arn:aws:dynamodb:eu-west-1:123456789012:table/")
        s3 = boto3.client("s3", region_name="eu-west-1")
        s3.create_bucket(Bucket="west", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="west", Key="k", Body=b"bytes", ChecksumAlgorithm="SHA256")
        assert s3.get_object(Bucket="west", Key="k")["Body"].read() == b"bytes"
        assert s3.get_bucket_location(Bucket="west")["LocationConstraint"] == "eu-west-1"
