"""The pipeline's step functions around their collaborators (moto S3, fake backends)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from botocore.exceptions import EndpointConnectionError, ReadTimeoutError

from photosort import pipeline
from photosort.errors import BackendThrottledError
from photosort.models import ImageMetadata, Inspection
from tests.support.buckets import put


class Unreachable:
    name = "rekognition"

    def __init__(self, error: Exception) -> None:
        self.error = error

    def classify(self, image: Any) -> Any:
        raise self.error


@pytest.mark.parametrize(
    "error",
    [
        EndpointConnectionError(endpoint_url="https://rekognition.us-east-1.amazonaws.com"),
        ReadTimeoutError(endpoint_url="https://runtime.sagemaker.us-east-1.amazonaws.com"),
    ],
)
def test_a_network_error_reaching_the_backend_is_retryable(s3: Any, error: Exception) -> None:
    """Timeouts and dropped connections become BackendThrottledError, which the state machine retries."""
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")
    inspection = Inspection(
        object=ref,
        received_at=datetime.now(UTC),
        usable=True,
        sha256=sha,
        metadata=ImageMetadata(format="JPEG", width=1, height=1, mode="RGB"),
    )

    with pytest.raises(BackendThrottledError, match="network error"):
        pipeline.classify(s3, Unreachable(error), inspection)
