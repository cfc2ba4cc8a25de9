"""Typed data that flows between the workflow steps (every step input and output is one of these)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from photosort.errors import RejectionReason


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ObjectRef(_Model):
    """One S3 object version, as the event announced it."""

    bucket: str
    key: str
    size: int = Field(ge=0)
    etag: str | None = None
    version_id: str | None = None
    sequencer: str | None = None


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


class Decision(_Model):
    """Where an image goes and why; the output of the Record step and the input of Sort."""

    image_id: str
    status: Status
    destination_key: str
    reason: str
    memberships: tuple[Membership, ...] = ()
    top_labels: tuple[str, ...] = ()
    duplicate_of: str | None = None
    created: bool = True


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
class ClassifyInput(_Model):
    inspection: Inspection


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

    event: dict
    error: FailureInfo
