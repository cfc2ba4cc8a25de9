"""Turn botocore ``ClientError``s from the AWS backends into photosort's named errors.

Lambda reports an exception to Step Functions under its class name, so this mapping decides what the state
machine does: ``BackendThrottledError`` is retried with backoff, the others are caught and recorded.
Shared by the Rekognition, Custom Labels and SageMaker backends; backend-specific codes (a model that is
not running, a missing endpoint) are handled in the backend before falling back to :func:`map_client_error`.
"""

from __future__ import annotations

from botocore.exceptions import ClientError

from photosort.errors import (
    BackendError,
    BackendThrottledError,
    BackendUnavailableError,
    ImageUnusableError,
    PhotosortError,
)
from photosort.models import RejectionReason

# Transient: the caller should wait and try again.
THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",  # Rekognition: too many concurrent calls (not an account quota we can fix)
        "TooManyRequestsException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServerError",  # Rekognition's 5xx
        "InternalFailure",  # SageMaker Runtime's 5xx
        "ModelNotReadyException",  # SageMaker: serverless capacity or a multi-model target still loading
    }
)

ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})

# The service looked at the pixels and refused them; sending them again will not help.
IMAGE_REJECTIONS = {
    "InvalidImageFormatException": RejectionReason.UNSUPPORTED_FORMAT,
    "ImageTooLargeException": RejectionReason.TOO_LARGE,
}


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", "Unknown"))


def error_message(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Message", "")).strip()


def map_client_error(exc: ClientError, *, action: str) -> PhotosortError:
    """Return (not raise) the photosort error for ``exc``.

    ``action`` is the IAM action that was called, e.g. ``rekognition:DetectLabels``; it names the permission
    to grant when access is denied.
    """
    code, message = error_code(exc), error_message(exc)
    if code in THROTTLE_CODES:
        return BackendThrottledError(f"{action} was throttled or briefly unavailable ({code}): {message}")
    if code in IMAGE_REJECTIONS:
        return ImageUnusableError(IMAGE_REJECTIONS[code], f"{action} refused the image ({code}): {message}")
    if code in ACCESS_DENIED_CODES:
        return BackendUnavailableError(
            f"{action} was denied ({code}): the function role needs the {action} permission. {message}"
        )
    if code == "InvalidS3ObjectException":
        # Rekognition reads S3 with the caller's credentials, so this is a setup problem, not a bad photo:
        # rejecting the image would send every upload to rejected/ because of one missing permission.
        return BackendUnavailableError(
            f"{action} could not read the S3 object ({code}): the function role needs s3:GetObject and "
            f"s3:GetObjectVersion on the bucket, and the bucket must be in the client's region. {message}"
        )
    return BackendError(f"{action} failed ({code}): {message}")
