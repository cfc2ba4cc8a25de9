"""Backfill and reprocess: what one item of a backfill run does, in each mode, with the per-upload domain code.

The backfill state machine (statemachine/backfill.asl.json) lists the bucket (or a prefix) with a Distributed Map,
or reads an S3 Inventory manifest (``--manifest``), and hands batches of keys to the backfill Lambda, which calls
:func:`process_batch`. An inventory row is screened first (:func:`admit`): its key is URL-decoded (S3 Inventory
writes keys URL-encoded), and a row of another bucket, a delete marker, an older version, or a key outside the
prefix is skipped with its reason; an object the inventory lists that has since gone is reported ``gone``. Per
key, by mode:

- ``ingest``: an object outside the output prefixes is sorted exactly as an upload is: :func:`pipeline.inspect`,
  :func:`pipeline.classify`, :func:`pipeline.record`, :func:`pipeline.sort`, and :func:`pipeline.quarantine` for
  any other error (the per-upload workflow's states, in its order). An object's image id comes from its bucket,
  key and ETag, so a re-run finds its record; the hash claim makes the same bytes arriving through incoming/ at
  the same time a duplicate of one owner (counted once).
- ``reroute``: a photo under albums/, inventory/ or unsorted/ gets the current rules applied to its stored
  labels (:func:`rerouted`, which is :func:`pipeline.decide_record` on them). Only a changed destination moves;
  the record, its memberships and the album counts change in one conditional transaction first, then the object
  moves (copy, verify, delete). A run interrupted between the two finds the object by its hash and finishes.
- ``reclassify``: the same photos, when their record was made by another backend, model version or few-shot head
  (or all), are classified again with the current backend, then rerouted.

Transient errors (throttling, a busy table) are raised, so the state machine retries the whole batch: every item
is idempotent, so finished items are skipped on the retry, and on a re-run of an interrupted backfill. The lock
(:class:`BackfillLock`) refuses a second backfill while one runs.
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from photosort import constants, neardup, pipeline, routing, storage
from photosort.backends import Classifier
from photosort.errors import (
    BackendThrottledError,
    ConfigurationError,
    ImageUnusableError,
    PhotosortError,
    StoreBusyError,
)
from photosort.models import (
    MAX_MODEL_VERSION,
    Classification,
    Decision,
    FailureInfo,
    ImageRecord,
    Inspection,
    Membership,
    ObjectRef,
    Status,
)
from photosort.repository import Repository
from photosort.settings import DuplicatePolicy

REPORTS_PREFIX = "backfill/"  # the ResultWriter's reports; never an item
HEADS_PREFIX = "heads/"  # few-shot label heads (LabelHeadKey)
PLACED_PREFIXES = (constants.ALBUMS_PREFIX, constants.INVENTORY_PREFIX, constants.UNSORTED_PREFIX)
NOT_INGESTED = (
    *constants.OUTPUT_PREFIXES,
    constants.INCOMING_PREFIX,  # the per-upload workflow's (and the sweeper's)
    constants.THUMBNAILS_PREFIX,
    REPORTS_PREFIX,
    HEADS_PREFIX,
)
REROUTABLE = frozenset({Status.SORTED, Status.UNSORTED})
LOCK_KEY = {"PK": {"S": "BACKFILL"}, "SK": {"S": "LOCK"}}
TRANSIENT = (BackendThrottledError, StoreBusyError)


class Mode(StrEnum):
    INGEST = "ingest"
    REROUTE = "reroute"
    RECLASSIFY = "reclassify"


class Outcome(StrEnum):
    SORTED = "sorted"
    UNSORTED = "unsorted"
    REJECTED = "rejected"
    DUPLICATE = "duplicate"
    FAILED = "failed"  # ingest: recorded as failed and set aside under failed/
    MOVED = "moved"  # reroute/reclassify: the destination changed and the photo moved
    UPDATED = "updated"  # memberships changed, the destination did not
    UNCHANGED = "unchanged"
    CURRENT = "current"  # reclassify: already classified by the current backend and model
    SKIPPED = "skipped"  # not an item of this mode (outside its prefixes, no record, not reroutable)
    GONE = "gone"  # listed, then moved or deleted before its turn
    ERROR = "error"  # could not be handled; the reason says why (redrive or re-run)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Source(StrEnum):
    LISTING = "listing"  # ListObjectsV2 of the prefix (the ItemReader's s3:listObjectsV2)
    MANIFEST = "manifest"  # an S3 Inventory manifest.json (the ItemReader's s3:getObject, InputType MANIFEST)


class BackfillItem(_Frozen):
    """One object to handle: a listed one as the listing Map's ItemSelector passes it, or an S3 Inventory row as
    the manifest Map's ItemReader makes it (``{"Bucket": ..., "Key": <URL-encoded>, "Size": "12", ...}``)."""

    key: str
    etag: str | None = None
    size: int = Field(0, ge=0)
    bucket: str | None = None  # an inventory row's Bucket column
    encoded: bool = False  # the key is URL-encoded (every inventory row's is)
    latest: bool = True  # IsLatest (a versioned inventory lists every version)
    delete_marker: bool = False  # IsDeleteMarker

    @model_validator(mode="before")
    @classmethod
    def _inventory_row(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "Key" not in data or "key" in data:
            return data
        size = str(data.get("Size") or "0")
        return {
            "key": data["Key"],
            "bucket": data.get("Bucket") or None,
            "etag": data.get("ETag") or None,
            "size": int(size) if size.isdigit() else 0,  # empty for a delete marker
            "encoded": True,
            "latest": str(data.get("IsLatest", "true")).lower() != "false",
            "delete_marker": str(data.get("IsDeleteMarker", "false")).lower() == "true",
        }

    @property
    def object_key(self) -> str:
        """The object's key (an inventory's decoded: ``+`` is a space, ``%2B`` a plus)."""
        return unquote_plus(self.key) if self.encoded else self.key


class BatchSettings(_Frozen):
    """The ItemBatcher's BatchInput: the run's options, the same for every batch."""

    mode: Mode
    bucket: str
    run: str | None = None  # the execution's id (for the logs)
    all: bool = False  # reclassify every photo, not only those made by another backend, model or head
    prefix: str = ""  # only keys under it (an inventory lists the whole bucket)


class BatchEvent(_Frozen):
    items: tuple[BackfillItem, ...] = Field(alias="Items")
    settings: BatchSettings = Field(alias="BatchInput")


class ItemOutcome(_Frozen):
    key: str
    outcome: Outcome
    image_id: str | None = None
    destination_key: str | None = None
    from_album: str | None = None
    to_album: str | None = None
    reason: str = ""


class BatchResult(_Frozen):
    items: tuple[ItemOutcome, ...]


@dataclass
class Context:
    """What items need: clients and the per-upload configuration (built once per container by the handler)."""

    s3: Any
    repo: Repository
    rules: Callable[[], routing.RuleSet]
    backend: Callable[[], Classifier]  # lazy: reroute never builds (or loads) a classifier
    duplicate_policy: DuplicatePolicy
    near: neardup.NearDuplicateSettings | None
    settings: Any  # photosort.settings.Settings (max sizes for Inspect)
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def in_scope(mode: Mode, key: str) -> bool:
    """Whether ``key`` is an item of ``mode`` (pure): ingest takes what is not photosort's, the others its places."""
    if key.endswith("/"):
        return False  # a console "folder"
    if mode is Mode.INGEST:
        return not key.startswith(NOT_INGESTED)
    return key.startswith(PLACED_PREFIXES)


def album_of(record: ImageRecord | Decision | None) -> str | None:
    """The album a record's photo is shown in (its primary membership), ``(unsorted)``, or None (pure)."""
    if record is None:
        return None
    if record.memberships:
        return record.memberships[0].album
    return "(unsorted)" if record.status is Status.UNSORTED else f"({record.status.value})"


# -- batches ----------------------------------------------------------------------------------------------------
def admit(run: BatchSettings, item: BackfillItem) -> BackfillItem | ItemOutcome:
    """The item to handle (its key decoded), or why it is skipped (pure): another bucket's row, a delete marker, an
    older version, a key outside the prefix or outside this mode's prefixes (photosort's outputs for ingest)."""
    key = item.object_key

    def skipped(reason: str) -> ItemOutcome:
        return ItemOutcome(key=key, outcome=Outcome.SKIPPED, reason=reason)

    if item.bucket is not None and item.bucket != run.bucket:
        return skipped(f"in bucket {item.bucket}, not {run.bucket} (an inventory of another bucket)")
    if item.delete_marker:
        return skipped("a delete marker (the inventory lists versions)")
    if not item.latest:
        return skipped("not the current version (the inventory lists versions)")
    if not key.startswith(run.prefix):
        return skipped(f"outside the prefix {run.prefix!r}")
    if not in_scope(run.mode, key):
        return skipped("outside this mode's prefixes")
    return item.model_copy(update={"key": key, "encoded": False}) if item.encoded else item


def process_batch(ctx: Context, event: BatchEvent) -> BatchResult:
    """Handle every item of one batch; transient errors propagate (the state machine retries the batch)."""
    handle = {Mode.INGEST: ingest_item, Mode.REROUTE: reroute_item, Mode.RECLASSIFY: reclassify_item}[
        event.settings.mode
    ]
    outcomes = []
    for raw in event.items:
        item = admit(event.settings, raw)
        if isinstance(item, ItemOutcome):
            outcomes.append(item)
            continue
        try:
            outcomes.append(handle(ctx, event.settings, item))
        except TRANSIENT:
            raise
        except Exception as exc:  # noqa: BLE001 - one item's trouble is reported, the batch goes on
            outcomes.append(
                ItemOutcome(key=item.key, outcome=Outcome.ERROR, reason=f"{type(exc).__name__}: {exc}"[:500])
            )
    return BatchResult(items=tuple(outcomes))


# -- ingest -----------------------------------------------------------------------------------------------------
_STATUS_OUTCOME = {
    Status.SORTED: Outcome.SORTED,
    Status.UNSORTED: Outcome.UNSORTED,
    Status.REJECTED: Outcome.REJECTED,
    Status.DUPLICATE: Outcome.DUPLICATE,
    Status.FAILED: Outcome.FAILED,
}


def ingest_item(ctx: Context, run: BatchSettings, item: BackfillItem) -> ItemOutcome:
    """Sort one pre-existing object as the per-upload workflow would (its steps, in its order)."""
    ref = ObjectRef(bucket=run.bucket, key=item.key, size=item.size, etag=(item.etag or "").strip('"') or None)
    try:
        inspection = pipeline.inspect(ctx.s3, ref, ctx.now(), ctx.settings)
        if inspection.gone:
            return ItemOutcome(key=item.key, outcome=Outcome.GONE, reason="no longer there")
        classification: Classification | None = None
        rejection: FailureInfo | None = None
        if inspection.usable:
            try:
                classification = pipeline.classify(ctx.s3, ctx.backend(), inspection)
            except ImageUnusableError as exc:  # the workflow's RecordBackendRejection branch
                rejection = FailureInfo.model_validate({"Error": type(exc).__name__, "Cause": str(exc)})
        decision = pipeline.record(
            ctx.repo,
            ctx.rules(),
            ctx.duplicate_policy,
            inspection,
            classification,
            rejection,
            near=ctx.near,
        )
        pipeline.sort(ctx.s3, inspection, decision)
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001 - the workflow's Catch: record the failure, set the photo aside
        error = FailureInfo.model_validate({"Error": type(exc).__name__, "Cause": str(exc)[:1000]})
        decision = pipeline.quarantine(ctx.s3, ctx.repo, ref, error)
    return ItemOutcome(
        key=item.key,
        outcome=_STATUS_OUTCOME[decision.status],
        image_id=decision.image_id,
        destination_key=decision.destination_key,
        to_album=album_of(decision),
        reason=decision.reason,
    )


# -- reroute ------------------------------------------------------------------------------------------------------
def rerouted(record: ImageRecord, rules: routing.RuleSet, now: datetime) -> ImageRecord:
    """The record the current rules make of a stored photo's labels (pure; :func:`pipeline.decide_record`).

    The key stays when the photo's primary album (or unsorted/) stays, so only a changed place moves a photo.
    """
    inspection = Inspection(
        object=ObjectRef(bucket=record.bucket, key=record.source_key, size=0),
        received_at=record.created_at,
        usable=True,
        sha256=record.sha256,
        metadata=record.metadata,
    )
    classification = Classification(
        labels=record.labels,
        backend=record.backend or "unknown",
        model_version=record.model_version or "unknown",
        embedding=record.embedding,
        faces=None if record.face_count is None else record.faces,
    )
    decided = pipeline.decide_record(rules, inspection, classification, now=now)
    same_place = album_of(decided) == album_of(record) and decided.status is record.status
    reason = decided.reason
    if record.near_duplicate_of:
        reason = f"{reason}; near-duplicate of image {record.near_duplicate_of}"
    return record.model_copy(
        update={
            "status": decided.status,
            "reason": reason,
            "memberships": decided.memberships,
            "destination_key": record.destination_key if same_place else decided.destination_key,
            "updated_at": now,
        }
    )


def _changed(old: ImageRecord, new: ImageRecord) -> bool:
    return (
        old.destination_key != new.destination_key
        or old.status is not new.status
        or [m.model_dump() for m in old.memberships] != [m.model_dump() for m in new.memberships]
    )


def reroute_item(ctx: Context, run: BatchSettings, item: BackfillItem) -> ItemOutcome:
    """Apply the current rules to the photo at ``item.key`` (its stored labels); move it only if its place changed."""
    record = find_record(ctx, run.bucket, item.key)
    if record is None:
        return ItemOutcome(key=item.key, outcome=Outcome.SKIPPED, reason="no record for this key")
    if record.destination_key != item.key:  # an interrupted reroute: the record moved on, the photo did not
        return _finish_move(ctx, record, item.key)
    if record.status not in REROUTABLE:
        return ItemOutcome(key=item.key, outcome=Outcome.SKIPPED, reason=f"a {record.status.value} photo")
    return _apply(ctx, record, rerouted(record, ctx.rules(), ctx.now()), item.key)


def _apply(ctx: Context, old: ImageRecord, new: ImageRecord, key: str, *, note: str = "") -> ItemOutcome:
    """Write ``new`` (a reclassified record always: its labels changed), then move the photo if its key changed."""
    base = {"key": key, "image_id": old.image_id, "from_album": album_of(old), "to_album": album_of(new)}
    if not _changed(old, new) and not note:
        return ItemOutcome(**base, outcome=Outcome.UNCHANGED, destination_key=key, reason="same place")
    save_rerouted(ctx.repo, old, new)
    if new.destination_key == old.destination_key:
        return ItemOutcome(**base, outcome=Outcome.UPDATED, destination_key=key, reason=(note + new.reason).strip())
    moved = _finish_move(ctx, new, key, note=note)
    return moved.model_copy(update={"from_album": album_of(old)})


def _finish_move(ctx: Context, record: ImageRecord, key: str, *, note: str = "") -> ItemOutcome:
    """Move the photo at ``key`` to where its record says it is (the record is already written)."""
    found = storage.resolve(ctx.s3, ObjectRef(bucket=record.bucket, key=key, size=0))
    if found is None:
        return ItemOutcome(key=key, outcome=Outcome.GONE, image_id=record.image_id, reason="moved by another run")
    storage.move(ctx.s3, found, record.destination_key, sha256=record.sha256 or "", tags=_tags(record))
    return ItemOutcome(
        key=key,
        outcome=Outcome.MOVED,
        image_id=record.image_id,
        destination_key=record.destination_key,
        to_album=album_of(record),
        reason=(note + record.reason).strip(),
    )


def _tags(record: ImageRecord) -> dict[str, str]:
    tags = {"photosort-status": record.status.value}
    if record.memberships:
        tags["photosort-album"] = record.memberships[0].album
    top = [label.name for label in record.labels[:3]]
    if top:
        tags["photosort-labels"] = " + ".join(top)
    return tags


def find_record(ctx: Context, bucket: str, key: str) -> ImageRecord | None:
    """The record of the photo at ``key``, found by the hash the move stamped on it (no index by key).

    The bytes item names every record of that hash: the one whose destination is ``key`` (a same-bytes
    duplicate kept with policy "sort" may share the key: the owner comes first); else the owner, if its photo is
    not where its record says (this object is the one to move there).
    """
    head = storage.head(ctx.s3, bucket, key)
    sha = (head or {}).get("Metadata", {}).get(storage.SHA_META)
    if not sha:
        return None
    candidates = [c for c in ctx.repo.records_with_hash(sha) if c.bucket == bucket]
    here = [c for c in candidates if c.destination_key == key]
    if here:
        return sorted(here, key=lambda c: c.status not in REROUTABLE)[0]
    owner = ctx.repo.hash_owner(sha)
    found = next((c for c in candidates if c.image_id == owner), None)
    if found is None or found.status not in REROUTABLE:
        return None
    if storage.head(ctx.s3, bucket, found.destination_key) is not None:
        return None  # its photo is where the record says: this object is another copy, not ours to move
    return found


def save_rerouted(repo: Repository, old: ImageRecord, new: ImageRecord) -> None:
    """Write ``new`` over ``old`` with its album members (Repository.reroute: one conditional transaction)."""
    repo.reroute(old, new)


# -- reclassify ---------------------------------------------------------------------------------------------------
def current_version(backend: Classifier) -> str | None:
    """The model version a classification by ``backend`` would record now: its model's, and for the local backend
    the few-shot head applied now (``labels_version``: the head is re-read when it changes), or None."""
    version = getattr(backend, "labels_version", None) or getattr(backend, "model_version", None)
    return None if version is None else str(version)[:MAX_MODEL_VERSION]


def is_current(record: ImageRecord, backend: Classifier) -> bool:
    """Whether ``record`` was made by this backend, this model version (when the backend names one) and this
    few-shot head (name and version, part of the model version: :func:`photosort.fewshot.tagged`), or no head
    when none is configured. A record made by any other is classified again by a reclassify."""
    version = current_version(backend)
    return record.backend == backend.name and (version is None or record.model_version == version)


def reclassify_item(ctx: Context, run: BatchSettings, item: BackfillItem) -> ItemOutcome:
    """Classify the photo at ``item.key`` again with the current backend, then reroute it on the new labels."""
    record = find_record(ctx, run.bucket, item.key)
    if record is None:
        return ItemOutcome(key=item.key, outcome=Outcome.SKIPPED, reason="no record for this key")
    if record.destination_key != item.key:
        return _finish_move(ctx, record, item.key)
    if record.status not in REROUTABLE:
        return ItemOutcome(key=item.key, outcome=Outcome.SKIPPED, reason=f"a {record.status.value} photo")
    backend = ctx.backend()
    if not run.all and is_current(record, backend):
        return ItemOutcome(key=item.key, outcome=Outcome.CURRENT, image_id=record.image_id, from_album=album_of(record))
    found = storage.resolve(ctx.s3, ObjectRef(bucket=run.bucket, key=item.key, size=item.size))
    if found is None:
        return ItemOutcome(key=item.key, outcome=Outcome.GONE, image_id=record.image_id, reason="no longer there")
    inspection = Inspection(
        object=found, received_at=record.created_at, usable=True, sha256=record.sha256, metadata=record.metadata
    )
    fresh = pipeline.classify(ctx.s3, backend, inspection)
    relabelled = record.model_copy(
        update={
            "labels": fresh.labels,
            "backend": fresh.backend,
            "model_version": fresh.model_version,
            "embedding": fresh.embedding,
            "faces": fresh.faces or (),
            "face_count": fresh.face_count,
        }
    )
    note = f"reclassified by {fresh.backend} ({fresh.model_version}); "
    return _apply(ctx, record, rerouted(relabelled, ctx.rules(), ctx.now()), item.key, note=note)


# -- the lock -----------------------------------------------------------------------------------------------------
class BackfillRunningError(PhotosortError):
    """Another backfill holds the lock (its execution is named in the message)."""


class BackfillLock:
    """One item (``PK=BACKFILL``, ``SK=LOCK``) names the execution that runs; it expires after ``ttl``.

    Taken with a conditional put: free, expired, already ours, or held by an execution that is no longer running
    (``is_running`` asks Step Functions; a stopped execution never reaches its release state).
    """

    def __init__(self, client: Any, table: str, is_running: Callable[[str], bool]) -> None:
        self._db = client
        self._table = table
        self._is_running = is_running

    def holder(self) -> dict[str, Any] | None:
        found = self._db.get_item(TableName=self._table, Key=LOCK_KEY, ConsistentRead=True).get("Item")
        return {k: next(iter(v.values())) for k, v in found.items()} if found else None

    def acquire(self, execution: str, mode: str, now: datetime, ttl: timedelta) -> None:
        held = self.holder()
        values: dict[str, Any] = {":me": {"S": execution}, ":now": {"N": str(int(now.timestamp()))}}
        condition = "attribute_not_exists(PK) OR holder = :me OR expires_at < :now"
        if held and held.get("holder") != execution and not self._is_running(held["holder"]):
            condition += " OR holder = :stale"  # its execution ended without releasing (stopped, timed out)
            values[":stale"] = {"S": held["holder"]}
        item = {
            **LOCK_KEY,
            "type": {"S": "backfill-lock"},
            "holder": {"S": execution},
            "mode": {"S": mode},
            "taken_at": {"S": now.isoformat()},
            "expires_at": {"N": str(int((now + ttl).timestamp()))},
        }
        try:
            self._db.put_item(
                TableName=self._table, Item=item, ConditionExpression=condition, ExpressionAttributeValues=values
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] != "ConditionalCheckFailedException":
                raise
            current = self.holder() or {}
            raise BackfillRunningError(
                f"another backfill is running: {current.get('holder')} ({current.get('mode')}, since "
                f"{current.get('taken_at')}); wait for it, or stop it, then start this one again"
            ) from exc

    def release(self, execution: str) -> bool:
        try:
            self._db.delete_item(
                TableName=self._table,
                Key=LOCK_KEY,
                ConditionExpression="holder = :me",
                ExpressionAttributeValues={":me": {"S": execution}},
            )
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ConditionalCheckFailedException":
                return False
            raise
        return True


MANIFEST_URI = re.compile(r"^s3://(?P<bucket>[a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(?P<key>.+\.json)$")


class RunOptions(_Frozen):
    """A backfill execution's input (from ``photosort backfill``, the console or the AWS CLI)."""

    mode: Mode
    prefix: str = ""
    all: bool = False
    manifest: str | None = None  # s3://bucket/.../manifest.json of an S3 Inventory: its rows are the items

    @field_validator("manifest")
    @classmethod
    def _manifest_uri(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not MANIFEST_URI.match(value):
            raise ValueError(f"manifest must be s3://bucket/path/manifest.json of an S3 Inventory, not {value!r}")
        return value

    @property
    def source(self) -> Source:
        return Source.MANIFEST if self.manifest else Source.LISTING


class InventoryNotAllowedError(PhotosortError):
    """The manifest is not under the stack's configured S3 Inventory destination (BackfillInventoryBucket and
    BackfillInventoryPrefix): the machine's role may read only there."""


class LockRequest(_Frozen):
    action: str = Field(pattern="^(acquire|release)$")
    execution: str
    options: RunOptions | None = None


class BackfillSettings(BaseModel):
    """The backfill's own configuration, from the environment (names in :mod:`photosort.constants`)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    max_concurrency: int = Field(10, ge=1, le=10_000, alias=constants.BACKFILL_MAX_CONCURRENCY)
    # a reroute never calls the backend: only Lambda, S3 and DynamoDB bound it
    reroute_concurrency: int = Field(100, ge=1, le=10_000, alias=constants.BACKFILL_REROUTE_CONCURRENCY)
    lock_seconds: int = Field(86_400, ge=60, alias=constants.BACKFILL_LOCK_SECONDS)
    inventory: str | None = Field(None, alias=constants.BACKFILL_INVENTORY)  # s3://bucket/prefix, or none

    @field_validator("inventory", mode="before")
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        return None if value == "" else value

    def check_manifest(self, manifest: str) -> tuple[str, str]:
        """The manifest's bucket and key, if the machine may read it (under the configured inventory destination)."""
        if self.inventory is None:
            raise InventoryNotAllowedError(
                "this stack reads no S3 Inventory: deploy it with BackfillInventoryBucket (and "
                "BackfillInventoryPrefix) naming your inventory's destination, or run without --manifest (a listing)"
            )
        if not manifest.startswith(self.inventory):
            raise InventoryNotAllowedError(
                f"manifest {manifest} is not under this stack's S3 Inventory destination {self.inventory}"
            )
        found = MANIFEST_URI.match(manifest)
        if found is None:
            raise InventoryNotAllowedError(f"manifest must be s3://bucket/path/manifest.json, not {manifest!r}")
        return found["bucket"], found["key"]

    def concurrency(self, mode: Mode) -> int:
        return self.reroute_concurrency if mode is Mode.REROUTE else self.max_concurrency

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BackfillSettings:
        source = os.environ if environ is None else environ
        try:
            return cls.model_validate({k: v for k, v in source.items() if k.startswith("PHOTOSORT_BACKFILL_")})
        except ValidationError as exc:
            raise ConfigurationError(f"invalid backfill configuration: {exc.errors()[0]['msg']}") from exc


def lock_step(lock: BackfillLock, request: LockRequest, settings: BackfillSettings, now: datetime) -> dict[str, Any]:
    """The state machine's Lock and Release steps: take the lock and return the run's options, or release it."""
    if request.action == "release":
        return {"released": lock.release(request.execution)}
    if request.options is None:
        raise ValueError("acquire needs the run's options (mode, prefix, all)")
    options = request.options
    bucket, key = settings.check_manifest(options.manifest) if options.manifest else (None, None)
    lock.acquire(request.execution, options.mode.value, now, timedelta(seconds=settings.lock_seconds))
    return {
        **options.model_dump(mode="json"),
        "source": options.source.value,  # the machine's Choice: the manifest Map, or the listing Map
        "manifest_bucket": bucket,
        "manifest_key": key,
        "max_concurrency": settings.concurrency(options.mode),
    }


# -- plans (--dry-run) and reports ----------------------------------------------------------------------------------
@dataclass
class Plan:
    """What a run would do, without doing it: counts by outcome, and moves between albums."""

    mode: Mode
    listed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # why, for the skipped keys

    @property
    def touched(self) -> int:
        return sum(
            n for o, n in self.outcomes.items() if o not in (Outcome.SKIPPED, Outcome.UNCHANGED, Outcome.CURRENT)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode.value,
            "listed": self.listed,
            "touched": self.touched,
            "outcomes": dict(sorted(self.outcomes.items())),
            "moves": [{"from": a, "to": b, "photos": n} for (a, b), n in sorted(self.moves.items())],
            "skipped": dict(sorted(self.skipped.items())),
        }


def plan_item(ctx: Context, run: BatchSettings, key: str) -> ItemOutcome:
    """What :func:`process_batch` would do with ``key``, read-only. Ingest and reclassify cannot know the new
    album without classifying: their moves show ``?`` as the destination."""
    if not in_scope(run.mode, key):
        return ItemOutcome(key=key, outcome=Outcome.SKIPPED, reason="outside this mode's prefixes")
    if run.mode is Mode.INGEST:  # every object outside photosort's prefixes moves into photosort's
        return ItemOutcome(key=key, outcome=Outcome.MOVED, from_album=f"({key.rsplit('/', 1)[0]}/)", to_album="?")
    record = find_record(ctx, run.bucket, key)
    if record is None:
        return ItemOutcome(key=key, outcome=Outcome.SKIPPED, reason="no record for this key")
    if record.destination_key != key:
        return ItemOutcome(key=key, outcome=Outcome.MOVED, from_album="(interrupted)", to_album=album_of(record))
    if record.status not in REROUTABLE:
        return ItemOutcome(key=key, outcome=Outcome.SKIPPED, reason=f"a {record.status.value} photo")
    if run.mode is Mode.RECLASSIFY:
        if not run.all and is_current(record, ctx.backend()):
            return ItemOutcome(key=key, outcome=Outcome.CURRENT, from_album=album_of(record))
        return ItemOutcome(key=key, outcome=Outcome.MOVED, from_album=album_of(record), to_album="?")
    new = rerouted(record, ctx.rules(), ctx.now())
    if not _changed(record, new):
        return ItemOutcome(key=key, outcome=Outcome.UNCHANGED, from_album=album_of(record), to_album=album_of(new))
    outcome = Outcome.MOVED if new.destination_key != record.destination_key else Outcome.UPDATED
    return ItemOutcome(key=key, outcome=outcome, from_album=album_of(record), to_album=album_of(new))


def plan(ctx: Context, run: BatchSettings, items: Iterable[str | BackfillItem]) -> Plan:
    """What a run over ``items`` (listed keys, or an inventory's rows) would do (read-only)."""
    result = Plan(mode=run.mode)
    for raw in items:
        result.listed += 1
        item = BackfillItem(key=raw) if isinstance(raw, str) else raw
        admitted = admit(run, item)
        if isinstance(admitted, ItemOutcome):
            outcome = admitted
        elif item.encoded and run.mode is Mode.INGEST and storage.head(ctx.s3, run.bucket, admitted.key) is None:
            # an inventory is a snapshot (daily or weekly): a HEAD tells which of its objects have gone since
            outcome = ItemOutcome(key=admitted.key, outcome=Outcome.GONE, reason="no longer there")
        else:
            outcome = plan_item(ctx, run, admitted.key)
        result.outcomes[outcome.outcome.value] += 1
        if outcome.outcome is Outcome.SKIPPED:
            result.skipped[outcome.reason] += 1
        if outcome.outcome is Outcome.MOVED:
            result.moves[(outcome.from_album or "?", outcome.to_album or "?")] += 1
    return result


@dataclass
class Report:
    """A finished (or failed) run, from its ResultWriter files: totals, failed items with reasons, moves."""

    outcomes: Counter[str] = field(default_factory=Counter)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)
    failed_items: list[dict[str, str]] = field(default_factory=list)
    failed_batches: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcomes": dict(sorted(self.outcomes.items())),
            "moves": [{"from": a, "to": b, "photos": n} for (a, b), n in sorted(self.moves.items())],
            "failed_items": self.failed_items,
            "failed_batches": self.failed_batches,
        }


def report(result_files: Sequence[dict[str, Any]]) -> Report:
    """Fold the ResultWriter's entries (``SUCCEEDED_*.json`` and ``FAILED_*.json`` rows) into a :class:`Report`."""
    out = Report()
    for entry in result_files:
        if entry.get("Status") == "SUCCEEDED":
            body = json.loads(entry.get("Output") or "{}")
            payload = body.get("Payload", body)  # lambda:invoke wraps the function's answer
            for item in BatchResult.model_validate(payload).items:
                out.outcomes[item.outcome.value] += 1
                if item.outcome is Outcome.MOVED:
                    out.moves[(item.from_album or "?", item.to_album or "?")] += 1
                if item.outcome in (Outcome.ERROR, Outcome.FAILED):
                    out.failed_items.append({"key": item.key, "outcome": item.outcome.value, "reason": item.reason})
            continue
        out.failed_batches += 1
        # a listed key as it is, an inventory row's decoded
        keys = [
            BackfillItem.model_validate(i).object_key for i in json.loads(entry.get("Input") or "{}").get("Items", [])
        ]
        reason = f"{entry.get('Error', '')}: {entry.get('Cause', '')}"[:500]
        for key in keys:
            out.outcomes[Outcome.ERROR.value] += 1
            out.failed_items.append({"key": key, "outcome": "batch failed", "reason": reason})
    return out


def memberships_of(records: Iterable[ImageRecord]) -> Counter[str]:
    """Members per album as the records say (for checks: counts must equal members)."""
    counts: Counter[str] = Counter()
    for rec in records:
        for m in rec.memberships:
            counts[m.album] += 1
    return counts


__all__ = [
    "BackfillItem",
    "BackfillLock",
    "BackfillRunningError",
    "BatchEvent",
    "BatchResult",
    "BatchSettings",
    "Context",
    "ItemOutcome",
    "Membership",
    "Mode",
    "Outcome",
    "Plan",
    "Source",
    "admit",
    "process_batch",
    "rerouted",
]
