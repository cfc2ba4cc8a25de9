"""Two events for one object (a second notification, or the same file uploaded again to the same key).

Before the fix, the second Record claimed the bytes as a duplicate of the first and planned ``duplicates/…``;
whichever Sort ran second found the original gone, so one record pointed at a key that never existed.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from moto import mock_aws

from photosort import pipeline, routing
from photosort.models import Classification, Label, ObjectRef
from photosort.repository import Repository
from photosort.settings import Settings
from tests.unit.conftest import BUCKET, put
from tests.unit.test_repository import TABLE, table_definition

CAT = Classification(
    labels=(Label(name="Cat", confidence=91.0, parents=("Animal",)),), backend="local", model_version="test"
)


@pytest.fixture
def aws() -> Iterator[tuple[Any, Repository]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        db = boto3.client("dynamodb", region_name="us-east-1")
        db.create_table(TableName=TABLE, **table_definition())
        yield s3, Repository(db, TABLE)


def _existing(s3: Any) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


def _run_two_events(s3: Any, repo: Repository, sort_order: tuple[int, int]) -> None:
    ref, _sha = put(s3, "incoming/trip/cat.jpg", _jpeg())
    settings = Settings.from_env({"PHOTOSORT_TABLE_NAME": TABLE})
    rules = routing.load_rules("family")
    refs = [ref.model_copy(update={"sequencer": seq}) for seq in ("0000000000000001", "0000000000000002")]
    inspections = [pipeline.inspect(s3, r, datetime.now(UTC), settings) for r in refs]
    decisions = [pipeline.record(repo, rules, settings.duplicate_policy, i, CAT) for i in inspections]
    for n in sort_order:
        pipeline.sort(s3, inspections[n], decisions[n])


def _jpeg() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.mark.parametrize("sort_order", [(0, 1), (1, 0)], ids=["first-sorts-first", "second-sorts-first"])
def test_two_events_for_one_object_give_one_record_at_a_key_that_exists(
    aws: tuple[Any, Repository], sort_order: tuple[int, int]
) -> None:
    s3, repo = aws
    _run_two_events(s3, repo, sort_order)

    records = list(repo.scan_images())
    assert len(records) == 1, [(r.status, r.destination_key) for r in records]
    assert records[0].status.value == "sorted"
    assert _existing(s3) == {records[0].destination_key}
    assert {a.album: a.image_count for a in repo.list_albums()}["pets"] == 1


def test_every_record_points_at_an_existing_key_after_a_same_key_reupload(aws: tuple[Any, Repository]) -> None:
    """The same bytes uploaded again to the same key, after the first was sorted: one copy, one record."""
    s3, repo = aws
    settings = Settings.from_env({"PHOTOSORT_TABLE_NAME": TABLE})
    rules = routing.load_rules("family")
    for _ in range(2):
        ref, _sha = put(s3, "incoming/cat.jpg", _jpeg())
        inspection = pipeline.inspect(s3, ref, datetime.now(UTC), settings)
        pipeline.sort(s3, inspection, pipeline.record(repo, rules, settings.duplicate_policy, inspection, CAT))

    existing = _existing(s3)
    assert all(r.destination_key in existing for r in repo.scan_images())
    assert not any(k.startswith("incoming/") for k in existing)


def test_same_bytes_under_another_key_are_still_a_duplicate(aws: tuple[Any, Repository]) -> None:
    s3, repo = aws
    settings = Settings.from_env({"PHOTOSORT_TABLE_NAME": TABLE})
    rules = routing.load_rules("family")
    for key in ("incoming/a.jpg", "incoming/b.jpg"):
        ref: ObjectRef = put(s3, key, _jpeg())[0]
        inspection = pipeline.inspect(s3, ref, datetime.now(UTC), settings)
        pipeline.sort(s3, inspection, pipeline.record(repo, rules, settings.duplicate_policy, inspection, CAT))

    statuses = sorted(r.status.value for r in repo.scan_images())
    assert statuses == ["duplicate", "sorted"]
    assert all(r.destination_key in _existing(s3) for r in repo.scan_images())
