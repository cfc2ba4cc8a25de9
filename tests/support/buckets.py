"""A moto S3 bucket, and putting an object into it as an event would announce it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from photosort.models import ObjectRef

BUCKET = "photos"


def moto_bucket() -> Iterator[Any]:
    """A moto S3 client with an empty bucket named ``BUCKET`` (for a fixture to yield from)."""
    import boto3
    from moto import mock_aws

    from photosort_local import s3_conditions

    s3_conditions.install()  # CopyObject's conditions, as S3 checks them (moto ignores them)
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def put(s3: Any, key: str, data: bytes) -> tuple[ObjectRef, str]:
    """Upload ``data`` under ``key``; returns the object as an event names it, and its SHA-256."""
    etag = s3.put_object(Bucket=BUCKET, Key=key, Body=data, ContentType="image/jpeg")["ETag"].strip('"')
    return ObjectRef(bucket=BUCKET, key=key, size=len(data), etag=etag), hashlib.sha256(data).hexdigest()
