"""Thumbnails on first view: the workflow makes none; the albums API makes one (upright, keyed by image id) the
first time the gallery asks, and writing it starts no execution."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image

from photosort.albums_api import AlbumsApi, NotFound
from photosort.models import Status
from photosort.repository import Repository
from tests.reliability import images
from tests.support.harness import Harness


def _api(harness: Harness) -> AlbumsApi:
    repo = Repository(harness.stack.client("dynamodb"), harness.stack.table)
    return AlbumsApi(repo, lambda key: f"https://signed.example/{key}", 300, s3=harness.s3)


def test_a_sorted_photo_gets_an_upright_thumbnail_on_first_view_and_starts_nothing_else(harness: Harness) -> None:
    key = harness.unique("sideways.jpg")
    done = harness.upload(key, images.jpeg(7, (800, 400), orientation=6))  # asserts exactly one execution
    assert done.outcome.status == "SUCCEEDED"
    record = done.record
    assert record is not None and record.status in (Status.SORTED, Status.UNSORTED)
    thumb_key = f"thumbnails/{record.image_id}.webp"
    assert thumb_key not in done.keys  # the workflow makes none
    assert "thumbnail" not in (done.outcome.output or {})
    before = set(harness.stack.executions())
    first = _api(harness).thumbnail(record.image_id)
    assert first.made and first.url.endswith(thumb_key)
    body = harness.s3.get_object(Bucket=harness.stack.bucket, Key=thumb_key)["Body"].read()
    assert Image.open(io.BytesIO(body)).size == (160, 320)  # EXIF orientation 6 applied
    assert not _api(harness).thumbnail(record.image_id).made  # kept from then on
    harness.stack.wait_idle()
    assert set(harness.stack.executions()) == before  # writing under thumbnails/ started no execution


def test_a_rejected_upload_gets_no_thumbnail(harness: Harness) -> None:
    key = harness.unique("cut.jpg")
    done = harness.upload(key, images.truncated_jpeg(8))
    assert done.record is not None and done.record.status is Status.REJECTED
    with pytest.raises(NotFound, match="no thumbnail"):
        _api(harness).thumbnail(done.record.image_id)
    assert f"thumbnails/{done.record.image_id}.webp" not in harness.keys("thumbnails/")


def test_objects_written_under_thumbnails_never_start_the_workflow(harness: Harness) -> None:
    before: set[Any] = set(harness.stack.executions())
    harness.s3.put_object(Bucket=harness.stack.bucket, Key="thumbnails/" + "0" * 32 + ".webp", Body=images.webp(1))
    harness.stack.wait_idle()
    assert set(harness.stack.executions()) == before
