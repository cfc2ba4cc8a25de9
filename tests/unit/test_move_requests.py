"""A move from Inspect's GET costs the conditional COPY and the DELETE, no HEAD: the copy is verified by the SHA-256
S3 returns for it (a HEAD only when S3 returns none, or for a ref without the headers Inspect read)."""

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
from photosort_local import s3_conditions


@pytest.fixture
def s3() -> Iterator[Any]:
    s3_conditions.install()
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="photos")
        yield client


def _calls(client: Any) -> list[str]:
    seen: list[str] = []
    client.meta.events.register("before-call.s3.*", lambda model, **_: seen.append(model.name))
    return seen


def _upload(s3: Any, data: bytes) -> ObjectRef:
    """The object as Inspect describes it: one GET, which also returns its headers."""
    s3.put_object(Bucket="photos", Key="incoming/a.jpg", Body=data, ContentType="image/jpeg", Metadata={"by": "me"})
    fetched = storage.fetch(s3, ObjectRef(bucket="photos", key="incoming/a.jpg", size=0))
    assert fetched is not None
    fetched[1].close()
    return fetched[0]


def test_a_move_makes_no_head(s3: Any) -> None:
    data = b"photo bytes" * 100
    ref = _upload(s3, data)
    calls = _calls(s3)
    result = storage.move(s3, ref, "albums/a.jpg", sha256=hashlib.sha256(data).hexdigest())
    assert result.moved
    assert calls == ["CopyObject", "DeleteObject"]
    copied = s3.get_object(Bucket="photos", Key="albums/a.jpg")
    assert copied["Body"].read() == data
    assert copied["ContentType"] == "image/jpeg" and copied["Metadata"]["by"] == "me"
    assert copied["Metadata"][storage.SHA_META] == hashlib.sha256(data).hexdigest()


def test_a_ref_without_headers_reads_them_with_one_head(s3: Any) -> None:
    data = b"photo bytes" * 100
    ref = _upload(s3, data).model_copy(update={"headers": None})
    calls = _calls(s3)
    assert storage.move(s3, ref, "albums/a.jpg", sha256=hashlib.sha256(data).hexdigest()).moved
    assert calls == ["HeadObject", "CopyObject", "DeleteObject"]
    assert s3.get_object(Bucket="photos", Key="albums/a.jpg")["ContentType"] == "image/jpeg"


def test_inspect_reads_once(s3: Any) -> None:
    s3.put_object(Bucket="photos", Key="incoming/a.jpg", Body=b"x" * 10)
    calls = _calls(s3)
    found, body = storage.fetch(s3, ObjectRef(bucket="photos", key="incoming/a.jpg", size=0)) or (None, None)
    assert found is not None and found.size == 10 and found.etag
    assert storage.sha256_of(body) == hashlib.sha256(b"x" * 10).hexdigest()
    assert calls == ["GetObject"]


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
    assert calls == ["CopyObject", "HeadObject", "DeleteObject"]


def test_a_copy_whose_checksum_differs_keeps_the_original(s3: Any) -> None:
    data = b"third photo" * 100
    ref = _upload(s3, data)
    wrong = hashlib.sha256(b"something else").hexdigest()
    with pytest.raises(DestinationConflictError):
        storage.move(s3, ref, "albums/c.jpg", sha256=wrong)
    assert s3.get_object(Bucket="photos", Key="incoming/a.jpg")["Body"].read() == data
