"""Inspect and the backend apply one pixel limit (PHOTOSORT_MAX_IMAGE_PIXELS), never Pillow's own 89,478,485.

Before the limits were passed to every backend, the local backend fell back to Pillow's limit: a 96 MP photo
passed Inspect (limit 100,000,000) and was then refused by Classify as a decompression bomb.
"""

from __future__ import annotations

import io

import pytest
from PIL import Image

from photosort import imaging
from photosort.backends import create_backend
from photosort.backends.base import ImageInput
from photosort.errors import ImageUnusableError
from photosort.models import Classification, ObjectRef, RejectionReason
from photosort.settings import Settings


def jpeg(size: tuple[int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("L", size, 128).save(buf, "JPEG", quality=50)
    return buf.getvalue()


def inspect_then_classify(data: bytes, settings: Settings) -> Classification:
    """What the workflow does: Inspect with the settings' limit, then Classify with the configured backend."""
    metadata = imaging.inspect_image(data, max_pixels=settings.max_image_pixels)
    backend = create_backend(settings, lambda service: None)
    ref = ObjectRef(bucket="photos", key="incoming/big.jpg", size=len(data))
    return backend.classify(ImageInput(ref=ref, metadata=metadata, fetch=lambda: data))


def test_a_96_megapixel_photo_that_passes_inspect_is_classified() -> None:
    settings = Settings()  # the deployed default: 100,000,000 pixels
    data = jpeg((12_000, 8_000))  # 96,000,000 pixels: above Pillow's 89,478,485

    classification = inspect_then_classify(data, settings)

    assert classification.backend == "local" and classification.labels


def test_the_backend_refuses_what_inspect_refuses_at_a_lower_configured_limit() -> None:
    settings = Settings(max_image_pixels=5_000)
    data = jpeg((100, 100))
    backend = create_backend(settings, lambda service: None)
    ref = ObjectRef(bucket="photos", key="incoming/small.jpg", size=len(data))
    metadata = imaging.inspect_image(data, max_pixels=10_000)  # as if Inspect had allowed it

    with pytest.raises(ImageUnusableError) as refused:
        backend.classify(ImageInput(ref=ref, metadata=metadata, fetch=lambda: data))

    assert refused.value.reason is RejectionReason.DECOMPRESSION_BOMB
    assert "exceeds the limit of 5000" in refused.value.detail
