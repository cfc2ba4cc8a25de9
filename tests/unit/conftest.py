"""Fixtures for unit tests that need S3: a moto bucket and a helper to put an object into it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort.models import ObjectRef

BUCKET = "photos"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(s3: Any, key: str, data: bytes) -> tuple[ObjectRef, str]:
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/jpeg")["ETag"].strip('"')
    return ObjectRef(bucket=BUCKET, key=key, size=len(data), etag=etag), hashlib.sha256(data).hexdigest()
