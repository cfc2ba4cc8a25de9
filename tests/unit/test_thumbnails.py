"""Thumbnails: size, format, EXIF orientation, key, and making one on first view against moto S3."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from typing import Any

import pytest
from PIL import Image

from photosort import thumbnails
from photosort.errors import ImageUnusableError, SourceChangedError
from photosort.models import ImageRecord, Status
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


def _record(status: Status, destination: str, sha: str) -> ImageRecord:
    now = datetime.now(UTC)
    return ImageRecord(
        image_id="ab" * 16,
        bucket=BUCKET,
        source_key="incoming/cat.jpg",
        destination_key=destination,
        status=status,
        reason="r",
        sha256=sha,
        created_at=now,
        updated_at=now,
    )


def test_the_first_view_writes_the_thumbnail_of_the_moved_photo(s3: Any) -> None:
    data = images.jpeg(3, (640, 320), orientation=6)
    ref, sha = put(s3, "albums/pets/2024/cat.jpg", data)
    record = _record(Status.SORTED, ref.key, sha)
    assert thumbnails.ensure_thumbnail(s3, record) is True
    stored = s3.get_object(Bucket=BUCKET, Key=f"thumbnails/{'ab' * 16}.webp")
    assert stored["ContentType"] == "image/webp" and "immutable" in stored["CacheControl"]
    assert _open(stored["Body"].read()).size == (160, 320)
    assert thumbnails.ensure_thumbnail(s3, record) is False  # made once, kept from then on


@pytest.mark.parametrize("status", [Status.REJECTED, Status.FAILED, Status.DUPLICATE])
def test_no_thumbnail_for_photos_outside_the_gallery(s3: Any, status: Status) -> None:
    ref, sha = put(s3, "rejected/x.jpg", images.jpeg(4))
    with pytest.raises(ValueError, match="no thumbnail"):
        thumbnails.ensure_thumbnail(s3, _record(status, ref.key, sha))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="thumbnails/")


def test_a_different_photo_at_the_destination_gets_no_thumbnail(s3: Any) -> None:
    ref, _sha = put(s3, "albums/pets/x.jpg", images.jpeg(5))
    other = hashlib.sha256(b"another photo").hexdigest()
    with pytest.raises(SourceChangedError):
        thumbnails.ensure_thumbnail(s3, _record(Status.SORTED, ref.key, other))
    assert "Contents" not in s3.list_objects_v2(Bucket=BUCKET, Prefix="thumbnails/")


def test_a_photo_not_moved_yet_gets_no_thumbnail(s3: Any) -> None:
    with pytest.raises(SourceChangedError, match="not there"):
        thumbnails.ensure_thumbnail(s3, _record(Status.SORTED, "albums/pets/later.jpg", "0" * 64))
