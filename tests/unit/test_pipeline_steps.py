"""Classify, Sort and Quarantine as plain functions (moto S3 and DynamoDB, a recording backend)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort import pipeline, storage
from photosort.backends import ImageInput
from photosort.models import (
    Classification,
    CollectionKind,
    Decision,
    FailureInfo,
    ImageMetadata,
    Inspection,
    Label,
    Membership,
    ObjectRef,
    Status,
)
from photosort.repository import Repository
from tests.support.buckets import BUCKET, put
from tests.support.tables import TABLE, table_definition

META = ImageMetadata(format="JPEG", width=4, height=3, mode="RGB")


@pytest.fixture
def aws() -> Iterator[tuple[Any, Repository]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        ddb = boto3.client("dynamodb", region_name="us-east-1")
        ddb.create_table(TableName=TABLE, **table_definition())
        yield s3, Repository(ddb, TABLE)


def usable(ref: ObjectRef, sha: str) -> Inspection:
    return Inspection(object=ref, received_at=datetime.now(UTC), usable=True, sha256=sha, metadata=META)


class Recording:
    """A backend that reads the image's bytes, as the local and SageMaker backends do."""

    name = "recording"

    def __init__(self) -> None:
        self.seen: list[tuple[ObjectRef, ImageMetadata, bytes]] = []

    def classify(self, image: ImageInput) -> Classification:
        self.seen.append((image.ref, image.metadata, image.read()))
        return Classification(backend=self.name, model_version="v1", labels=(Label(name="Cat", confidence=90.0),))


def test_classify_hands_the_backend_the_object_its_metadata_and_its_bytes(aws: tuple[Any, Repository]) -> None:
    s3, _ = aws
    ref, sha = put(s3, "incoming/a.jpg", b"the bytes")
    backend = Recording()

    result = pipeline.classify(s3, backend, usable(ref, sha))

    assert result.backend == "recording" and [lab.name for lab in result.labels] == ["Cat"]
    assert backend.seen == [(ref, META, b"the bytes")]


def decision(status: Status, key: str, **extra: Any) -> Decision:
    fields: dict[str, Any] = {"image_id": "i", "status": status, "destination_key": key, "reason": "why", **extra}
    return Decision(**fields)


@pytest.mark.parametrize(
    ("status", "memberships", "labels", "tags"),
    [
        (
            Status.SORTED,
            (Membership(album="pets", kind=CollectionKind.ALBUM, label="Cat", confidence=90.0),),
            ("Cat", "Animal"),
            {
                "photosort-status": "sorted",
                "photosort-album": "pets",
                "photosort-labels": "Cat + Animal",
            },
        ),
        (Status.UNSORTED, (), (), {"photosort-status": "unsorted"}),
        (Status.REJECTED, (), (), {"photosort-status": "rejected", "photosort-reason": "why"}),
        (Status.FAILED, (), (), {"photosort-status": "failed", "photosort-reason": "why"}),
    ],
)
def test_sort_moves_the_object_tagged_with_what_was_decided(
    aws: tuple[Any, Repository],
    status: Status,
    memberships: tuple[Membership, ...],
    labels: tuple[str, ...],
    tags: dict[str, str],
) -> None:
    s3, _ = aws
    ref, sha = put(s3, "incoming/a.jpg", b"photo")

    moved = pipeline.sort(
        s3, usable(ref, sha), decision(status, "albums/pets/a.jpg", memberships=memberships, top_labels=labels)
    )

    assert moved.moved and moved.destination_key == "albums/pets/a.jpg"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["albums/pets/a.jpg"]
    tagging = s3.get_object_tagging(Bucket=BUCKET, Key="albums/pets/a.jpg")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tagging} == tags
    head = s3.head_object(Bucket=BUCKET, Key="albums/pets/a.jpg")
    assert head["Metadata"][storage.SHA_META] == sha


BOOM = FailureInfo(error="BackendError", cause='{"errorMessage": "the model said no", "errorType": "BackendError"}')


def test_quarantine_records_the_failure_and_moves_the_object_to_failed(aws: tuple[Any, Repository]) -> None:
    s3, repo = aws
    ref, sha = put(s3, "incoming/trip/a.jpg", b"photo")

    result = pipeline.quarantine(s3, repo, ref, BOOM)

    record = repo.get(pipeline.image_id(storage.resolve(s3, ref) or ref))
    assert result.created and result.status is Status.FAILED
    assert record is not None and record.status is Status.FAILED
    assert record.reason == "BackendError: the model said no" and record.error == BOOM.cause
    assert record.sha256 == sha and record.source_key == "incoming/trip/a.jpg"
    assert result.destination_key == record.destination_key == f"failed/trip/a-{sha[:8]}.jpg"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == [record.destination_key]


def test_quarantine_of_a_vanished_object_keeps_the_record_another_delivery_wrote(
    aws: tuple[Any, Repository],
) -> None:
    s3, repo = aws
    ref, _ = put(s3, "incoming/a b.jpg", b"photo")
    first = pipeline.quarantine(s3, repo, ref, BOOM)  # one delivery sets it aside
    event_form = ref.model_copy(update={"key": storage.encode_event_key(ref.key)})  # the event's key: a+b.jpg

    again = pipeline.quarantine(s3, repo, event_form, FailureInfo(error="Other", cause="late"))

    assert not again.created and again.destination_key == first.destination_key and again.reason == first.reason
    assert len(list(repo.scan_images())) == 1


def test_quarantine_of_an_object_deleted_by_someone_records_why(aws: tuple[Any, Repository]) -> None:
    s3, repo = aws
    ref, _ = put(s3, "incoming/a b.jpg", b"photo")
    s3.delete_object(Bucket=BUCKET, Key="incoming/a b.jpg")
    event_form = ref.model_copy(update={"key": storage.encode_event_key(ref.key)})

    result = pipeline.quarantine(s3, repo, event_form, FailureInfo(error="Boom", cause="x" * 2000))

    plain = ref.model_copy(update={"key": "incoming/a b.jpg"})
    record = repo.get(pipeline.image_id(plain))
    assert result.created and record is not None
    assert record.status is Status.FAILED and record.source_key == record.destination_key == "incoming/a b.jpg"
    assert record.reason == "Boom: object disappeared before it could be set aside"
    assert record.error == "x" * 1000 and record.sha256 is None
    assert repo.mark_failed(record) == record  # idempotent: the record stands
