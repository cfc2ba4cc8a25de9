"""A move costs one HEAD of the destination, one of the source, the COPY and the DELETE: the copy is verified by
the SHA-256 S3 returns for it (a third HEAD only when S3 returns none)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort import storage
from photosort.errors import DestinationConflictError
from photosort.models import ObjectRef


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="photos")
        yield client


def _calls(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: seen.append(model.name))
    return seen


def _upload(s3: Any, data: bytes) -> ObjectRef:
    etag = s3.put_object(Bucket="photos", Key="incoming/a.jpg", Body=data)["ETag"].strip('"')
    return ObjectRef(bucket="photos", key="incoming/a.jpg", size=len(data), etag=etag)


def test_a_move_makes_two_heads(s3: Any) -> None:
    data = b"photo bytes" * 100
    ref = _upload(s3, data)
    calls = _calls(s3)
    result = storage.move(s3, ref, "albums/a.jpg", sha256=hashlib.sha256(data).hexdigest())
    assert result.moved
    assert calls == ["HeadObject", "HeadObject", "CopyObject", "DeleteObject"]
    assert s3.get_object(Bucket="photos", Key="albums/a.jpg")["Body"].read() == data


def test_without_a_returned_checksum_the_copy_is_verified_by_head(s3: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"other photo" * 100
    ref = _upload(s3, data)
    original = s3.copy_object

    def copy_without_checksum(**kwargs: Any) -> dict[str, Any]:
        resp = original(**kwargs)
        resp.get("CopyObjectResult", {}).pop("ChecksumSHA256", None)
        return resp

    monkeypatch.setattr(s3, "copy_object", copy_without_checksum)
    calls = _calls(s3)
    storage.move(s3, ref, "albums/b.jpg", sha256=hashlib.sha256(data).hexdigest())
    assert calls.count("HeadObject") == 3


def test_a_copy_whose_checksum_differs_keeps_the_original(s3: Any) -> None:
    data = b"third photo" * 100
    ref = _upload(s3, data)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DestinationConflictError):
        storage.move(s3, ref, "albums/c.jpg", sha256=wrong)
    assert s3.get_object(Bucket="photos", Key="incoming/a.jpg")["Body"].read() == data
