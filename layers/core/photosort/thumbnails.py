"""Thumbnails: a small upright WebP of a sorted photo, under ``thumbnails/<image id>.webp``, made on first view.

The per-photo workflow makes none (a thumbnail for every upload cost a Lambda invocation, a GET and a PUT per
photo, about $6.90 per million, for photos nobody may look at). The albums API makes one the first time the
gallery asks for it (``GET /api/photos/{id}/thumbnail``, :func:`ensure_thumbnail`) and S3 keeps it from then on.

The key comes from the image id alone, so the API and the gallery find a photo's thumbnail from its record
without a lookup, and making it twice writes the same object. ``thumbnails/`` is not ``incoming/``: the
EventBridge rule (``incoming/`` prefix only) never starts the workflow for a thumbnail.
"""

from __future__ import annotations

import hashlib
import re
from io import BytesIO
from typing import Any

from botocore.exceptions import ClientError

from photosort import constants
from photosort.errors import SourceChangedError
from photosort.imaging import load_rgb
from photosort.models import DEFAULT_MAX_PIXELS, ImageRecord

THUMBNAIL_SIDE = 320  # pixels on the long side (the gallery shows them at up to 220 CSS px; sharp on 1.5x screens)
THUMBNAIL_QUALITY = 78
CONTENT_TYPE = "image/webp"
CACHE_CONTROL = "private, max-age=31536000, immutable"  # a key never holds a different thumbnail
# Statuses whose photos get a thumbnail (the photos the gallery shows).
THUMBNAIL_STATUSES_VALUES = frozenset({"sorted", "unsorted"})
_IMAGE_ID = re.compile(r"^[0-9a-f]{32}$")


def thumbnail_key(image_id: str) -> str:
    """``thumbnails/<image id>.webp``; refuses anything that is not an image id (no path tricks)."""
    if not _IMAGE_ID.match(image_id):
        raise ValueError(f"not an image id: {image_id!r}")
    return f"{constants.THUMBNAILS_PREFIX}{image_id}.webp"


def make_thumbnail(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, side: int = THUMBNAIL_SIDE) -> bytes:
    """Encode ``data`` as an upright (EXIF orientation applied) WebP at most ``side`` px on its long side.

    Decoding goes through :func:`photosort.imaging.load_rgb` with a draft size, so a JPEG is DCT-scaled while it
    is decoded (a 12 MP photo decodes at 1/8 scale) and every other format is box-reduced before it is rotated.
    """
    from PIL import Image as PILImage

    img = load_rgb(data, max_pixels=max_pixels, draft_size=(side, side))
    if max(img.size) > side:
        img.thumbnail((side, side), PILImage.Resampling.LANCZOS)
    out = BytesIO()
    img.save(out, format="WEBP", quality=THUMBNAIL_QUALITY, method=4)
    return out.getvalue()


def exists(s3: Any, bucket: str, key: str) -> bool:
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def ensure_thumbnail(s3: Any, record: ImageRecord, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> bool:
    """Make ``thumbnails/<image id>.webp`` for a sorted photo unless it exists; True when it was made now.

    The photo is read where its record says it is, and checked against the hash Inspect computed, so a
    thumbnail never shows a different photo than its record.
    """
    if record.status.value not in THUMBNAIL_STATUSES_VALUES:
        raise ValueError(f"no thumbnail for a {record.status.value} photo")
    key = thumbnail_key(record.image_id)
    if exists(s3, record.bucket, key):
        return False
    try:
        with s3.get_object(Bucket=record.bucket, Key=record.destination_key)["Body"] as body:
            data: bytes = body.read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            raise SourceChangedError(f"s3://{record.bucket}/{record.destination_key} is not there (yet)") from exc
        raise
    if record.sha256 and hashlib.sha256(data).hexdigest() != record.sha256:
        raise SourceChangedError(f"s3://{record.bucket}/{record.destination_key} does not hold the recorded photo")
    s3.put_object(
        Bucket=record.bucket,
        Key=key,
        Body=make_thumbnail(data, max_pixels=max_pixels),
        ContentType=CONTENT_TYPE,
        CacheControl=CACHE_CONTROL,
        Metadata={"photosort-image-id": record.image_id},
    )
    return True
