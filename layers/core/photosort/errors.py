"""Named errors.

Lambda reports an unhandled exception to Step Functions under its class name (``errorType``), so these
names are what the state machine's ``Retry`` and ``Catch`` blocks match. Keep them stable.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from photosort.models import RejectionReason


class PhotosortError(Exception):
    """Base class for every error photosort raises on purpose."""


class ConfigurationError(PhotosortError):
    """A setting or the routing rules are invalid; raised before any photo is touched."""


def describe_validation(exc: Any, top_level: str) -> str:
    """One line per problem of a pydantic ValidationError: ``field.path: message``."""
    return "; ".join(f"{'.'.join(str(p) for p in err['loc']) or top_level}: {err['msg']}" for err in exc.errors())


class BackendThrottledError(PhotosortError):
    """The classification service throttled us or could not be reached; transient, retried with backoff by
    the state machine."""


class BackendUnavailableError(PhotosortError):
    """The backend cannot serve requests (model not running, endpoint missing); not retried."""


class BackendError(PhotosortError):
    """The backend returned something we cannot use."""


class ImageUnusableError(PhotosortError):
    """The bytes cannot be turned into pixels for a backend. Carries a rejection reason."""

    def __init__(self, reason: RejectionReason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class StoreBusyError(PhotosortError):
    """DynamoDB throttled us or a transaction conflicted; transient, retried by the state machine."""


class DestinationConflictError(PhotosortError):
    """A different object already sits at the destination key; the move refuses to overwrite it."""


class SourceChangedError(PhotosortError):
    """The source object changed (ETag differs) while it was being moved."""


class HashClaimedError(PhotosortError):
    """Another image already owns these bytes; the caller records this one as a duplicate."""

    def __init__(self, owner: str) -> None:
        super().__init__(f"content already recorded as image {owner}")
        self.owner = owner
