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


# The label payload travels through every later state of the workflow, and a state over 256 KB fails the
# execution with States.DataLimitExceeded, which no Catch (not even States.ALL) can handle. These caps keep the
# largest state far below it (tests/unit/test_payload_cap.py measures it at the caps).
MAX_LABELS = 50
MAX_LABEL_NAME_BYTES = 64  # UTF-8 bytes of a label, parent or category name
MAX_LABEL_PARENTS = 8  # rules match parents too: Rekognition gives up to ~5 (Golden Retriever -> ... -> Animal)
MAX_LABEL_CATEGORIES = 3


def _cut(text: str) -> str:
    """Control characters dropped (JSON would escape each as 6 bytes), cut to MAX_LABEL_NAME_BYTES of UTF-8."""
    clean = "".join(ch for ch in text if ch.isprintable())
    return clean.encode("utf-8")[:MAX_LABEL_NAME_BYTES].decode("utf-8", "ignore")


class Classification(_Model):
    labels: tuple[Label, ...]
    backend: str
    model_version: str

    def capped(self) -> Classification:
        """At most MAX_LABELS labels, every name cut to MAX_LABEL_NAME_BYTES, at most 8 parents and 3 categories."""
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
        return self.model_copy(update={"labels": labels, "model_version": self.model_version[:128]})


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


class SweepInput(BaseModel):
    """What the schedule passes to the sweeper (the template fills it from its Sweep* parameters)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    older_than_minutes: float = Field(15, ge=0, le=1440)
    max_objects: int = Field(100, ge=1, le=1000)
    max_redrives: int = Field(2, ge=0, le=10)
    max_scanned: int = Field(10_000, ge=1, le=1_000_000)
