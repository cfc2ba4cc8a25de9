"""Typed data: what flows between the workflow steps, and what the repository stores.

Every step input and output is one of these, and so is every item the repository reads back. This module
depends on nothing else in photosort, so every other module may import it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RejectionReason(StrEnum):
    """Why an upload was not a usable image. Stored in the record and in the rejected/ object's tags."""

    EMPTY_OBJECT = "EmptyObject"
    NOT_AN_IMAGE = "NotAnImage"
    UNSUPPORTED_FORMAT = "UnsupportedFormat"
    TRUNCATED_IMAGE = "TruncatedImage"
    CORRUPT_IMAGE = "CorruptImage"
    DECOMPRESSION_BOMB = "DecompressionBomb"
    TOO_LARGE = "TooLarge"
    CONTENT_FILTERED = "ContentFiltered"  # a model's content filter or guardrail refused the image
    IMAGE_REFUSED = "ImageRefused"  # a model's request validation refused the image itself


class SourceHeaders(_Model):
    """The object's own headers, as Inspect's GET returned them: Sort copies them without a HeadObject."""

    content_type: str = "binary/octet-stream"
    metadata: dict[str, str] = Field(default_factory=dict)
    cache_control: str | None = None
    content_disposition: str | None = None
    content_encoding: str | None = None
    content_language: str | None = None


class ObjectRef(_Model):
    """One S3 object version, as the event announced it (``headers``: as Inspect read it, when it did)."""

    bucket: str
    key: str
    size: int = Field(ge=0)
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None
    headers: SourceHeaders | None = None

    @classmethod
    def from_event(cls, event: S3EventNotificationEventBridgeModel) -> ObjectRef:
        """The object an EventBridge "Object Created" event names (the key as sent: S3 URL-encodes it)."""
        detail = event.detail
        obj = detail.object
        return cls(
            bucket=detail.bucket.name,
            key=obj.key,
            size=int(obj.size or 0),
            etag=obj.etag or None,
            version_id=obj.version_id or None,
            sequencer=obj.sequencer or None,
        )


DEFAULT_MAX_PIXELS = 100_000_000
"""The default pixel limit (``PHOTOSORT_MAX_IMAGE_PIXELS``): above Pillow's 89,478,485 warning level, below its
hard error at twice that. Inspect and every backend use the configured value, never Pillow's."""


@dataclass(frozen=True)
class BackendLimits:
    """The limits every classification backend is built with (from Settings, the same values Inspect uses).

    ``max_pixels`` is the largest image a backend decodes: the same limit Inspect checks, so an image Inspect
    accepts is never refused by the backend for its size. ``min_confidence`` is sent to the services that filter
    on their side (Rekognition, Custom Labels); the local model and SageMaker return their scores unfiltered
    and the routing rules apply their own thresholds.
    """

    max_labels: int = 20
    min_confidence: float = 55.0
    max_pixels: int = DEFAULT_MAX_PIXELS


class ImageMetadata(_Model):
    format: str
    width: int
    height: int
    mode: str
    frames: int = 1
    orientation: int = 1
    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None


class Rejection(_Model):
    reason: RejectionReason
    detail: str


class Inspection(_Model):
    """What the Inspect step learned from the bytes. ``usable`` is a flag so the ASL Choice stays simple."""

    object: ObjectRef
    received_at: datetime
    usable: bool
    gone: bool = False
    sha256: str | None = None
    metadata: ImageMetadata | None = None
    rejection: Rejection | None = None


class Label(_Model):
    """A backend-neutral label: confidence is 0-100, parents run from the nearest to the most general."""

    name: str
    confidence: float = Field(ge=0, le=100)
    parents: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()


# The label payload travels through every later state of the workflow, and a state over 256 KB fails the
# execution with States.DataLimitExceeded, which no Catch (not even States.ALL) can handle. These caps keep the
# largest state far below it (tests/unit/test_payload_cap.py measures it at the caps).
MAX_LABELS = 50
MAX_LABEL_NAME_BYTES = 64  # UTF-8 bytes of a label, parent or category name
MAX_LABEL_PARENTS = 8  # rules match parents too: Rekognition gives up to ~5 (Golden Retriever -> ... -> Animal)
MAX_LABEL_CATEGORIES = 3
MAX_MODEL_VERSION = 128  # characters of a model version a record keeps


def _cut(text: str) -> str:
    """Control characters dropped (JSON would escape each as 6 bytes), cut to MAX_LABEL_NAME_BYTES of UTF-8."""
    clean = "".join(ch for ch in text if ch.isprintable())
    return clean.encode("utf-8")[:MAX_LABEL_NAME_BYTES].decode("utf-8", "ignore")


class Embedding(_Model):
    """A compact image embedding: the L2-normalised feature vector as int8 (peak scaled to 127), base64.

    1280 dimensions take 1,708 characters, far inside DynamoDB's 400 KB item and the 256 KB state payload.
    Vectors from different ``model_version`` values are not comparable. See ``photosort.embeddings``.
    """

    model_version: str
    dim: int = Field(ge=1)
    data: str


class Face(_Model):
    """A detected face. The box is in fractions of the upright image (as Rekognition's ``BoundingBox``)."""

    left: float = Field(ge=0, le=1)
    top: float = Field(ge=0, le=1)
    width: float = Field(ge=0, le=1)
    height: float = Field(ge=0, le=1)
    confidence: float = Field(ge=0, le=100)


class Classification(_Model):
    labels: tuple[Label, ...]
    backend: str
    model_version: str
    embedding: Embedding | None = None

    def capped(self) -> Classification:
        """At most MAX_LABELS labels, every name cut to MAX_LABEL_NAME_BYTES, at most 8 parents and 3 categories; the
        model version cut to MAX_MODEL_VERSION characters."""
        labels = tuple(
            label.model_copy(
                update={
                    "name": _cut(label.name),
                    "parents": tuple(_cut(p) for p in label.parents[:MAX_LABEL_PARENTS]),
                    "categories": tuple(_cut(c) for c in label.categories[:MAX_LABEL_CATEGORIES]),
                }
            )
            for label in self.labels[:MAX_LABELS]
        )
        return self.model_copy(update={"labels": labels, "model_version": self.model_version[:MAX_MODEL_VERSION]})

    faces: tuple[Face, ...] | None = None
    """The faces found, most confident first; None when the backend does not detect faces."""

    @property
    def face_count(self) -> int | None:
        return None if self.faces is None else len(self.faces)


class Status(StrEnum):
    SORTED = "sorted"
    UNSORTED = "unsorted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    FAILED = "failed"


class CollectionKind(StrEnum):
    ALBUM = "album"
    INVENTORY = "inventory"


class Membership(_Model):
    """The image belongs to this album (or inventory category) because ``label`` passed its rule."""

    album: str
    kind: CollectionKind
    label: str
    confidence: float


# -- stored models (what the repository writes and reads back) ----------------------------------------------
class ImageRecord(BaseModel):
    """The record of one upload: where it came from, where it went, and why."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    image_id: str
    bucket: str
    source_key: str
    destination_key: str
    status: Status
    reason: str
    sha256: str | None = None
    labels: tuple[Label, ...] = ()
    face_count: int | None = None  # None: the backend does not detect faces
    faces: tuple[Face, ...] = ()
    backend: str | None = None
    model_version: str | None = None
    metadata: ImageMetadata | None = None
    memberships: tuple[Membership, ...] = ()
    duplicate_of: str | None = None
    near_duplicate_of: str | None = None
    near_duplicate_similarity: float | None = None
    embedding: Embedding | None = None
    error: str | None = None
    created_at: datetime
    updated_at: datetime

    @property
    def sort_time(self) -> datetime:
        return self.metadata.taken_at if self.metadata and self.metadata.taken_at else self.created_at


class AlbumSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    album: str
    kind: CollectionKind
    image_count: int


class AlbumEntry(BaseModel):
    model_config = ConfigDict(frozen=True)

    album: str
    image_id: str
    destination_key: str
    label: str
    confidence: float
    taken_at: str


@dataclass(frozen=True)
class Page:
    items: list[AlbumEntry]
    next_token: str | None


@dataclass(frozen=True)
class ImagePage:
    """A page of image records (label search); ``next_token`` resumes after it."""

    items: list[ImageRecord]
    next_token: str | None


class Decision(_Model):
    """Where an image goes and why; the output of the Record step and the input of Sort."""

    image_id: str
    status: Status
    destination_key: str
    reason: str
    memberships: tuple[Membership, ...] = ()
    top_labels: tuple[str, ...] = ()
    duplicate_of: str | None = None
    near_duplicate_of: str | None = None
    created: bool = True

    @classmethod
    def from_record(cls, record: ImageRecord, *, created: bool) -> Decision:
        """The decision a stored record stands for; ``created`` is False when the record was already there."""
        return cls(
            image_id=record.image_id,
            status=record.status,
            destination_key=record.destination_key,
            reason=record.reason,
            memberships=record.memberships,
            top_labels=tuple(label.name for label in record.labels[:3]),
            duplicate_of=record.duplicate_of,
            near_duplicate_of=record.near_duplicate_of,
            created=created,
        )


class MoveResult(_Model):
    source_key: str
    destination_key: str
    moved: bool
    already_done: bool = False


class FailureInfo(_Model):
    """The ``Error``/``Cause`` pair that a Step Functions ``Catch`` adds to the state."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    error: str = Field(alias="Error")
    cause: str = Field(default="", alias="Cause")


# -- step inputs (what the state machine passes to each Lambda) ---------------------------------------------
class Analysis(_Model):
    """What the Classify step found: the inspection, and the classification of a usable upload (or the
    backend's refusal of it). Record takes it as is (the state machine passes its fields on)."""

    inspection: Inspection
    classification: Classification | None = None
    backend_rejection: FailureInfo | None = None


class RecordInput(_Model):
    inspection: Inspection
    classification: Classification | None = None
    backend_rejection: FailureInfo | None = None


class SortInput(_Model):
    inspection: Inspection
    decision: Decision


class QuarantineInput(BaseModel):
    """The original execution input (the S3 event) and the error a ``Catch`` caught."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    event: S3EventNotificationEventBridgeModel
    error: FailureInfo


class SweepInput(BaseModel):
    """What the schedule passes to the sweeper (the template fills it from its Sweep* parameters)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    older_than_minutes: float = Field(15, ge=0, le=1440)
    max_objects: int = Field(100, ge=1, le=1000)
    max_redrives: int = Field(2, ge=0, le=10)
    max_scanned: int = Field(10_000, ge=1, le=1_000_000)
