"""Thumbnails: a small upright WebP of each sorted photo, under ``thumbnails/<image id>.webp``.

The key comes from the image id alone, so the API and the gallery find a photo's thumbnail from its record
without a lookup, and a replayed event rewrites the same object. ``thumbnails/`` is not ``incoming/``: the
EventBridge rule (``incoming/`` prefix only) never starts the workflow for a thumbnail.
"""

from __future__ import annotations

import re
from io import BytesIO

from photosort import constants
from photosort.imaging import load_rgb
from photosort.models import DEFAULT_MAX_PIXELS

THUMBNAIL_SIDE = 320  # pixels on the long side (the gallery shows them at up to 220 CSS px; sharp on 1.5x screens)
THUMBNAIL_QUALITY = 78
CONTENT_TYPE = "image/webp"
CACHE_CONTROL = "private, max-age=31536000, immutable"  # a key never holds a different thumbnail
# Statuses whose photos get a thumbnail (the Thumbnail step's Choice in the ASL says the same).
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
