"""The one interface every classification backend implements."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from photosort.models import Classification, ImageMetadata, ObjectRef

ClientFactory = Callable[[str], Any]
"""Builds a boto3 client for a service name, e.g. ``boto3.client``. Injected so nothing is built at import."""


@dataclass
class ImageInput:
    """An image to classify: where it is in S3, what Inspect learned, and a lazy reader for its bytes.

    Backends that can read S3 themselves (Rekognition) use ``ref``; the others call ``read()``, which fetches
    the object once and caches the bytes.
    """

    ref: ObjectRef
    metadata: ImageMetadata
    fetch: Callable[[], bytes]
    _data: bytes | None = field(default=None, repr=False)

    def read(self) -> bytes:
        if self._data is None:
            self._data = self.fetch()
        return self._data


class Classifier(Protocol):
    """Turns an image into normalized labels (confidence 0-100, parents nearest-first)."""

    name: str

    def classify(self, image: ImageInput) -> Classification: ...
