"""The Thumbnail step in the real workflow: written after Sort, upright, keyed by image id, never re-triggering."""

from __future__ import annotations

import io

from PIL import Image

from photosort.models import Status
from tests.reliability import images
from tests.support.harness import Harness


def test_a_sorted_photo_gets_an_upright_thumbnail_and_starts_nothing_else(harness: Harness) -> None:
    key = harness.unique("sideways.jpg")
    done = harness.upload(key, images.jpeg(7, (800, 400), orientation=6))  # asserts exactly one execution
    assert done.outcome.status == "SUCCEEDED"
    record = done.record
    assert record is not None and record.status in (Status.SORTED, Status.UNSORTED)
    thumb_key = f"thumbnails/{record.image_id}.webp"
    assert thumb_key in done.keys
    assert done.outcome.output is not None and done.outcome.output["thumbnail"]["key"] == thumb_key
    body = harness.s3.get_object(Bucket=harness.stack.bucket, Key=thumb_key)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (160, 320)  # EXIF orientation 6 applied
    before = set(harness.stack.executions())
    harness.stack.wait_idle()
    assert set(harness.stack.executions()) == before  # writing under thumbnails/ started no execution


def test_a_rejected_upload_gets_no_thumbnail(harness: Harness) -> None:
    key = harness.unique("cut.jpg")
    done = harness.upload(key, images.truncated_jpeg(8))
    assert done.record is not None and done.record.status is Status.REJECTED
    assert f"thumbnails/{done.record.image_id}.webp" not in done.keys
    assert "thumbnail" not in (done.outcome.output or {})


def test_objects_written_under_thumbnails_never_start_the_workflow(harness: Harness) -> None:
    before = set(harness.stack.executions())
    harness.s3.put_object(Bucket=harness.stack.bucket, Key="thumbnails/" + "0" * 32 + ".webp", Body=images.webp(1))
    harness.stack.wait_idle()
    assert set(harness.stack.executions()) == before
