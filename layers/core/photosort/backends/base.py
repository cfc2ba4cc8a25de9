"""The one interface every classification backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from photosort.models import Classification, ImageMetadata, ObjectRef

if TYPE_CHECKING:
    from photosort.imaging import Decoded

ClientFactory = Callable[..., Any]
"""Builds a boto3 client for a service name (called with the name only), e.g. ``boto3.client``. Injected so
nothing is built at import."""


@dataclass
class ImageInput:
    """An image to classify: where it is in S3, what Inspect learned, and a lazy reader for its bytes.

    Backends that can read S3 themselves (Rekognition) use ``ref``; the others call ``read()``, which fetches
    the object once and caches the bytes. ``in_s3`` is False for a local file (``photosort classify``): ``ref``
    then only names it, and every backend sends the bytes.
    """

    ref: ObjectRef
    metadata: ImageMetadata
    fetch: Callable[[], bytes]
    in_s3: bool = True
    decoded: Decoded | None = field(default=None, repr=False)  # the first frame, if Inspect decoded it for us
    _data: bytes | None = field(default=None, repr=False)

    def read(self) -> bytes:
        if self._data is None:
            self._data = self.fetch()
        return self._data


class Classifier(Protocol):
    """Turns an image into normalized labels (confidence 0-100, parents nearest-first).

    A backend that decodes the pixels itself may say at what size (``decode_size``, the ``draft_size`` it gives
    :func:`photosort.imaging.load_rgb`): Inspect, which decodes every upload to validate it, then decodes at
    that size and hands the frame over in :attr:`ImageInput.decoded`, so the photo is decoded once.
    """

    name: str

    def classify(self, image: ImageInput) -> Classification: ...
