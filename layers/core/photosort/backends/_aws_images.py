"""Get an image into an AWS service: an S3 reference when the service can read it as is, else JPEG bytes.

Rekognition reads JPEG and PNG straight from S3 (no bytes through the Lambda), but only within its limits;
anything else (HEIF, WEBP, GIF, oversize, tiny) is converted here with :func:`photosort.imaging.to_jpeg`
and sent inline, shrunk until it fits the inline byte limit. Shared by the Rekognition, Custom Labels and
SageMaker backends so the rule exists once.

Limits come from the Rekognition developer guide ("Guidelines and quotas") and the Custom Labels guide
("Guidelines and quotas", Detection).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from botocore.exceptions import ClientError

from photosort.backends._aws_errors import error_code
from photosort.backends.base import ImageInput
from photosort.errors import ImageUnusableError
from photosort.imaging import to_jpeg
from photosort.models import ObjectRef, RejectionReason

logger = logging.getLogger(__name__)

MB = 1024 * 1024
SERVICE_FORMATS = frozenset({"JPEG", "PNG"})
# Labels gain nothing from more pixels than this, and a smaller JPEG keeps the request small and fast.
CONVERT_MAX_SIDE = 4096
_SHRINK_STEP = 0.8  # JPEG size scales with area, so each step cuts about a third of the bytes


@dataclass(frozen=True)
class ImageLimits:
    max_object_bytes: int  # largest S3 object the service reads by reference
    max_inline_bytes: int  # largest ``Bytes`` / request body
    min_side: int
    max_side: int


DETECT_LABELS = ImageLimits(max_object_bytes=15 * MB, max_inline_bytes=5 * MB, min_side=80, max_side=10_000)
DETECT_CUSTOM_LABELS = ImageLimits(max_object_bytes=15 * MB, max_inline_bytes=4 * MB, min_side=64, max_side=4096)
# SageMaker has no pixel limits of its own; the body limit is 6 MB real-time but 4 MB serverless, so use 4.
INVOKE_ENDPOINT = ImageLimits(max_object_bytes=4 * MB, max_inline_bytes=4 * MB, min_side=1, max_side=65_535)

# Errors after which the S3 reference is abandoned for converted bytes: the converted JPEG is baseline RGB
# (fixes odd JPEG/PNG variants), smaller, and read with the Lambda's own S3 permission.
_RETRY_AS_BYTES = frozenset({"InvalidImageFormatException", "ImageTooLargeException", "InvalidS3ObjectException"})


def usable_as_is(image: ImageInput, limits: ImageLimits, size: int) -> bool:
    """True if the original bytes (``size`` of them) can go to the service unconverted."""
    meta = image.metadata
    return (
        meta.format in SERVICE_FORMATS
        and size <= limits.max_object_bytes
        and limits.min_side <= min(meta.width, meta.height)
        and max(meta.width, meta.height) <= limits.max_side
    )


def s3_reference(ref: ObjectRef) -> dict[str, Any]:
    s3_object = {"Bucket": ref.bucket, "Name": ref.key}
    if ref.version_id:
        s3_object["Version"] = ref.version_id  # the exact version the event announced, not whatever is there now
    return {"S3Object": s3_object}


def _dimensions(jpeg: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(BytesIO(jpeg)) as img:  # header only
        return img.size


def _enlarge(jpeg: bytes, min_side: int, max_side: int) -> bytes:
    """Scale a tiny image up to the service's minimum side (a thumbnail still deserves labels)."""
    from PIL import Image

    with Image.open(BytesIO(jpeg)) as img:
        scale = min_side / min(img.size)
        width, height = (min(max_side, max(min_side, round(side * scale))) for side in img.size)
        out = BytesIO()
        img.convert("RGB").resize((width, height), Image.Resampling.LANCZOS).save(out, format="JPEG", quality=90)
    return out.getvalue()


def fit_jpeg(data: bytes, limits: ImageLimits, *, max_pixels: int) -> bytes:
    """Convert any decodable image to an upright JPEG within ``limits`` (side range and inline byte limit)."""
    jpeg = to_jpeg(data, max_pixels=max_pixels, max_side=min(limits.max_side, CONVERT_MAX_SIDE))
    side = max(_dimensions(jpeg))
    while len(jpeg) > limits.max_inline_bytes:
        side = int(side * _SHRINK_STEP)
        if side < limits.min_side:
            raise ImageUnusableError(RejectionReason.TOO_LARGE, f"cannot fit under {limits.max_inline_bytes} bytes")
        # Re-encoding the previous JPEG is much cheaper than decoding the original again.
        jpeg = to_jpeg(jpeg, max_pixels=max_pixels, max_side=side)
    if min(_dimensions(jpeg)) < limits.min_side:
        jpeg = _enlarge(jpeg, limits.min_side, limits.max_side)
    return jpeg


def call_with_image(
    call: Callable[[dict[str, Any]], dict[str, Any]],
    image: ImageInput,
    limits: ImageLimits,
    *,
    max_pixels: int,
    map_error: Callable[[ClientError], Exception],
) -> dict[str, Any]:
    """Call a Rekognition operation with ``Image=`` an S3 reference if possible, else converted bytes.

    ``call`` receives the ``Image`` parameter. Client errors are mapped with ``map_error``; reading and
    converting the bytes happens outside the mapping, so an S3 or decode error keeps its own type.
    """
    if usable_as_is(image, limits, image.ref.size):
        try:
            return call(s3_reference(image.ref))
        except ClientError as exc:
            if error_code(exc) not in _RETRY_AS_BYTES:
                raise map_error(exc) from exc
            logger.warning(
                "S3 reference to s3://%s/%s refused (%s); retrying with converted bytes",
                image.ref.bucket,
                image.ref.key,
                error_code(exc),
            )
    payload = {"Bytes": fit_jpeg(image.read(), limits, max_pixels=max_pixels)}
    try:
        return call(payload)
    except ClientError as exc:
        raise map_error(exc) from exc
