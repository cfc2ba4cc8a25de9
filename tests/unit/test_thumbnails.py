"""Thumbnails: size, format, EXIF orientation, key, and the Thumbnail step against moto S3."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from photosort import pipeline, thumbnails
from photosort.errors import ImageUnusableError, SourceChangedError
from photosort.models import Decision, ImageMetadata, Inspection, Status
from photosort.settings import Settings
from tests.reliability import images
from tests.support.buckets import BUCKET, put


def _open(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.mark.parametrize(
    ("size", "expected"), [((1200, 800), (320, 213)), ((500, 1000), (160, 320)), ((90, 60), (90, 60))]
)
def test_long_side_is_at_most_320_and_aspect_is_kept(size: tuple[int, int], expected: tuple[int, int]) -> None:
    img = _open(thumbnails.make_thumbnail(images.jpeg(1, size)))
    assert img.format == "WEBP"
    assert img.size == expected  # never upscaled


@pytest.mark.parametrize("orientation", [6, 8])
def test_exif_orientation_is_applied(orientation: int) -> None:
    """A landscape sensor image tagged 'rotate 90' becomes a portrait thumbnail."""
    img = _open(thumbnails.make_thumbnail(images.jpeg(2, (640, 320), orientation=orientation)))
    assert img.size == (160, 320)


@pytest.mark.parametrize("kind", sorted(images.ODD))
def test_every_accepted_kind_of_image_gets_a_thumbnail(kind: str) -> None:
    img = _open(thumbnails.make_thumbnail(images.ODD[kind]()))
    assert img.format == "WEBP" and img.mode == "RGB" and max(img.size) <= 320


def test_undecodable_bytes_raise_the_named_error() -> None:
    with pytest.raises(ImageUnusableError):
        thumbnails.make_thumbnail(b"not an image at all")


@pytest.mark.parametrize("bad", ["", "../x", "A" * 32, "0" * 31, "0" * 32 + "/x"])
def test_key_only_from_an_image_id(bad: str) -> None:
    with pytest.raises(ValueError):
        thumbnails.thumbnail_key(bad)
    assert thumbnails.thumbnail_key("0" * 32) == f"thumbnails/{'0' * 32}.webp"


def _decision(status: Status, destination: str) -> Decision:
    return Decision(image_id="ab" * 16, status=status, destination_key=destination, reason="r")


def _inspection(ref: Any, sha: str) -> Inspection:
    meta = ImageMetadata(format="JPEG", width=640, height=320, mode="RGB")
    return Inspection(object=ref, received_at=datetime.now(UTC), usable=True, sha256=sha, metadata=meta)


def test_the_step_writes_the_thumbnail_of_the_moved_photo(s3: Any) -> None:
    data = images.jpeg(3, (640, 320), orientation=6)
    ref, sha = put(s3, "albums/pets/2024/cat.jpg", data)
    source = ref.model_copy(update={"key": "incoming/cat.jpg"})  # where it was uploaded; Sort moved it
    result = pipeline.thumbnail(s3, _inspection(source, sha), _decision(Status.SORTED, ref.key), Settings())
    assert result.key == f"thumbnails/{'ab' * 16}.webp" and (result.width, result.height) == (160, 320)
    stored = s3.get_object(Bucket=BUCKET, Key=result.key)
    assert stored["ContentType"] == "image/webp" and "immutable" in stored["CacheControl"]
    body = stored["Body"].read()
    assert len(body) == result.bytes and _open(body).size == (160, 320)
    again = pipeline.thumbnail(s3, _inspection(source, sha), _decision(Status.SORTED, ref.key), Settings())
    assert again == result  # a replay rewrites the same picture


@pytest.mark.parametrize("status", [Status.REJECTED, Status.FAILED, Status.DUPLICATE])
def test_no_thumbnail_for_photos_outside_the_gallery(s3: Any, status: Status) -> None:
    ref, sha = put(s3, "rejected/x.jpg", images.jpeg(4))
    result = pipeline.thumbnail(s3, _inspection(ref, sha), _decision(status, ref.key), Settings())
    assert result.key is None and result.skipped
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="thumbnails/")


def test_a_different_photo_at_the_destination_gets_no_thumbnail(s3: Any) -> None:
    ref, _sha = put(s3, "albums/pets/x.jpg", images.jpeg(5))
    other = hashlib.sha256(b"another photo").hexdigest()
    with pytest.raises(SourceChangedError):
        pipeline.thumbnail(s3, _inspection(ref, other), _decision(Status.SORTED, ref.key), Settings())
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="thumbnails/")
