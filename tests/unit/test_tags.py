"""The tags Sort puts on a moved photo read as written (S3 tag values allow no commas)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from photosort import pipeline
from photosort.models import Decision, Inspection, Status
from tests.unit.conftest import BUCKET, put


def _tags(s3: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def _sort(s3: Any, decision: Decision) -> dict[str, str]:
    ref, sha = put(s3, "incoming/cat.jpg", b"cat bytes")
    inspection = Inspection(object=ref, received_at=datetime.now(UTC), usable=True, sha256=sha)
    pipeline.sort(s3, inspection, decision)
    return _tags(s3, decision.destination_key)


def test_labels_tag_lists_the_top_labels_readably(s3: Any) -> None:
    decision = Decision(
        image_id="i1",
        status=Status.SORTED,
        destination_key="albums/pets/2026/cat-12345678.jpg",
        reason="matched rule 'pets'",
        top_labels=("Animal", "Cat", "Siamese cat"),
    )
    tags = _sort(s3, decision)
    assert tags["photosort-labels"] == "Animal + Cat + Siamese cat"
    assert tags["photosort-status"] == "sorted"
    assert "photosort-reason" not in tags


def test_rejected_photos_carry_the_reason_tag(s3: Any) -> None:
    decision = Decision(
        image_id="i2",
        status=Status.REJECTED,
        destination_key="rejected/cat-12345678.jpg",
        reason="NotAnImage: cannot identify image file",
    )
    tags = _sort(s3, decision)
    assert tags == {"photosort-status": "rejected", "photosort-reason": "NotAnImage: cannot identify image file"}
