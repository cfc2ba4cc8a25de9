"""The conditional-copy adapter: moto's CopyObject honours the conditions S3 checks (pinned to moto 5.2.5)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from photosort_local import s3_conditions


@pytest.fixture
def s3() -> Iterator[Any]:
    s3_conditions.install()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        yield client


def _code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def test_if_none_match_refuses_an_existing_destination(s3: Any) -> None:
    s3.put_object(Bucket="bkt", Key="src", Body=b"mine")
    s3.put_object(Bucket="bkt", Key="dst", Body=b"theirs")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src"}, IfNoneMatch="*")
    assert _code(exc) == "PreconditionFailed"
    assert s3.get_object(Bucket="bkt", Key="dst")["Body"].read() == b"theirs"


def test_copy_source_if_match_refuses_a_replaced_source(s3: Any) -> None:
    old = s3.put_object(Bucket="bkt", Key="src", Body=b"first")["ETag"]
    s3.put_object(Bucket="bkt", Key="src", Body=b"second")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src"}, CopySourceIfMatch=old)
    assert _code(exc) == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket="bkt", Prefix="dst")


def test_if_match_on_a_missing_destination_is_no_such_key(s3: Any) -> None:
    s3.put_object(Bucket="bkt", Key="src", Body=b"x")
    with pytest.raises(ClientError) as exc:
        s3.copy_object(Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src"}, IfMatch='"abc"')
    assert _code(exc) == "NoSuchKey"


def test_conditions_that_hold_copy(s3: Any) -> None:
    etag = s3.put_object(Bucket="bkt", Key="src", Body=b"photo")["ETag"]
    s3.copy_object(
        Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src"}, CopySourceIfMatch=etag, IfNoneMatch="*"
    )
    assert s3.get_object(Bucket="bkt", Key="dst")["Body"].read() == b"photo"
    dest = s3.head_object(Bucket="bkt", Key="dst")["ETag"]
    s3.copy_object(Bucket="bkt", Key="dst", CopySource={"Bucket": "bkt", "Key": "src"}, IfMatch=dest)  # may overwrite
