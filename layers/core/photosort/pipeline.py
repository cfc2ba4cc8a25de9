"""The four workflow steps as plain functions: inspect, classify, record, sort (plus quarantine).

Handlers parse their event into a model and call exactly one of these. Clients, the backend, the
repository and the rules are passed in, so the same code runs in Lambda, in the embedded stack and in tests.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from photosort import constants, imaging, routing, storage
from photosort.backends import Classifier, ImageInput
from photosort.errors import BackendThrottledError, ImageUnusableError, RejectionReason
from photosort.models import (
    Classification,
    Decision,
    FailureInfo,
    Inspection,
    MoveResult,
    ObjectRef,
    Rejection,
    Status,
)
from photosort.repository import HashClaimedError, ImageRecord, Repository
from photosort.settings import DuplicatePolicy, Settings

_CHUNK = 8 * 1024 * 1024


def object_ref_from_event(event: Any) -> tuple[ObjectRef, datetime]:
    """The object an EventBridge "Object Created" event names (key as sent), and the event time."""
    detail = event.detail
    obj = detail.object
    ref = ObjectRef(
        bucket=detail.bucket.name,
        key=obj.key,
        size=int(obj.size or 0),
        etag=obj.etag or None,
        version_id=obj.version_id or None,
        sequencer=obj.sequencer or None,
    )
    return ref, event.time


def image_id(ref: ObjectRef) -> str:
    """Stable id of one upload: the same event delivered twice maps to the same id."""
    identity = "\n".join([ref.bucket, ref.key, ref.version_id or "", ref.sequencer or "", ref.etag or ""])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _stream_sha256(s3: Any, ref: ObjectRef) -> str:
    body = s3.get_object(Bucket=ref.bucket, Key=ref.key)["Body"]
    digest = hashlib.sha256()
    with body:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


# -- 1. Inspect ---------------------------------------------------------------------------------------------
def inspect(s3: Any, ref: ObjectRef, received_at: datetime, settings: Settings) -> Inspection:
    """Find the object, identify it from its bytes, and either describe it or say why it is unusable."""
    found = storage.resolve(s3, ref)
    if found is None:
        return Inspection(object=ref, received_at=received_at, usable=False, gone=True)
    if found.size > settings.max_image_bytes:
        return Inspection(
            object=found,
            received_at=received_at,
            usable=False,
            sha256=_stream_sha256(s3, found),
            rejection=Rejection(
                reason=RejectionReason.TOO_LARGE,
                detail=f"{found.size} bytes exceeds the limit of {settings.max_image_bytes} bytes",
            ),
        )
    data = storage.read(s3, found)
    sha = hashlib.sha256(data).hexdigest()
    try:
        metadata = imaging.inspect_image(data, max_pixels=settings.max_image_pixels)
    except ImageUnusableError as exc:
        return Inspection(
            object=found,
            received_at=received_at,
            usable=False,
            sha256=sha,
            rejection=Rejection(reason=exc.reason, detail=exc.detail[:500]),
        )
    return Inspection(object=found, received_at=received_at, usable=True, sha256=sha, metadata=metadata)


# -- 2. Classify --------------------------------------------------------------------------------------------
def classify(s3: Any, backend: Classifier, inspection: Inspection) -> Classification:
    assert inspection.metadata is not None, "Classify only runs on usable images"
    image = ImageInput(
        ref=inspection.object, metadata=inspection.metadata, fetch=lambda: storage.read(s3, inspection.object)
    )
    try:
        return backend.classify(image)
    except (BotocoreConnectionError, HTTPClientError) as exc:
        # A timeout or dropped connection that outlasted botocore's own retries: transient, so it takes the
        # state machine's backoff-and-retry path instead of sending the photo to failed/.
        raise BackendThrottledError(f"{backend.name}: network error reaching the service: {exc}") from exc


# -- 3. Record ----------------------------------------------------------------------------------------------
def _aside_key(prefix: str, source_key: str, sha256: str | None, fmt: str | None = None) -> str:
    """Mirror the user's folders under an output prefix; the hash suffix keeps different files apart."""
    relative = PurePosixPath(routing.relative_source(source_key))
    folder = "" if str(relative.parent) in (".", "") else f"{relative.parent}/"
    room = routing.MAX_KEY_BYTES - len(prefix.encode()) - 64  # leave 64 bytes for "<stem>-<sha8><ext>"
    if len(folder.encode()) > room:
        folder = routing.cut_utf8(folder, room).rstrip("/") + "/"
    return routing.render_key(
        f"{prefix}{folder}",
        "{stem}-{sha8}{ext}",
        source_key=source_key,
        sha256=sha256 or "00000000",
        when=datetime.now(UTC),
        fmt=fmt,
    )


def _decision(record: ImageRecord, created: bool) -> Decision:
    return Decision(
        image_id=record.image_id,
        status=record.status,
        destination_key=record.destination_key,
        reason=record.reason,
        memberships=record.memberships,
        top_labels=tuple(label.name for label in record.labels[:3]),
        duplicate_of=record.duplicate_of,
        created=created,
    )


def record(
    repo: Repository,
    rules: routing.RuleSet,
    settings: Settings,
    inspection: Inspection,
    classification: Classification | None,
    backend_rejection: FailureInfo | None = None,
) -> Decision:
    """Decide where the image goes and why, and write the record with its album memberships and counts."""
    ref = inspection.object
    iid = image_id(ref)
    stored = repo.get(iid)
    if stored is not None:  # the same event, delivered again
        return _decision(stored, created=False)

    common: dict[str, Any] = {
        "image_id": iid,
        "bucket": ref.bucket,
        "source_key": ref.key,
        "sha256": inspection.sha256,
        "metadata": inspection.metadata,
        "classification": classification,
    }
    if not inspection.usable or classification is None:
        rejection = inspection.rejection
        if backend_rejection is not None:  # the backend refused the image (e.g. a format it cannot take)
            reason = f"BackendRejected: {_short_cause(backend_rejection.cause)}"
        elif rejection is not None:
            reason = f"{rejection.reason.value}: {rejection.detail}"
        else:
            reason = "not a usable image"
        rec = ImageRecord.build(
            status=Status.REJECTED,
            reason=reason,
            destination_key=_aside_key(constants.REJECTED_PREFIX, ref.key, inspection.sha256),
            **common,
        )
        saved, created = repo.save(rec, claim_hash=False)
        return _decision(saved, created)

    memberships = routing.match(rules, classification.labels, face_count=classification.face_count)
    primary = memberships[0] if memberships else None
    prefix, template = routing.destination_for(primary, rules)
    meta = inspection.metadata
    destination = routing.render_key(
        prefix,
        template,
        source_key=ref.key,
        sha256=inspection.sha256 or "",
        when=routing.when_taken(meta, inspection.received_at),
        label=primary.label if primary else "",
        album=primary.album if primary else "",
        fmt=meta.format if meta else None,
    )
    if primary is not None:
        reason = f"matched rule {primary.album!r} with label {primary.label!r} ({primary.confidence:.1f}%)"
        status = Status.SORTED
    else:
        best = classification.labels[0] if classification.labels else None
        reason = f"no rule matched: best label {best.name!r} ({best.confidence:.1f}%)" if best else "no labels returned"
        status = Status.UNSORTED
    rec = ImageRecord.build(
        status=status, reason=reason, destination_key=destination, memberships=memberships, **common
    )
    try:
        saved, created = repo.save(rec, claim_hash=True)
    except HashClaimedError as dup:
        aside = settings.duplicate_policy is DuplicatePolicy.SET_ASIDE
        rec = rec.model_copy(
            update={
                "status": Status.DUPLICATE,
                "reason": f"same bytes as image {dup.owner}; policy {settings.duplicate_policy.value}",
                "duplicate_of": dup.owner,
                "memberships": (),
                "destination_key": (
                    _aside_key(constants.DUPLICATES_PREFIX, ref.key, inspection.sha256) if aside else destination
                ),
            }
        )
        saved, created = repo.save(rec, claim_hash=False)
    return _decision(saved, created)


# -- 4. Sort ------------------------------------------------------------------------------------------------
def sort(s3: Any, inspection: Inspection, decision: Decision) -> MoveResult:
    """Move the object to the decided key (copy, verify, delete), tagged with its status and top labels."""
    tags = {"photosort-status": decision.status.value}
    if decision.memberships:
        tags["photosort-album"] = decision.memberships[0].album
    if decision.top_labels:
        tags["photosort-labels"] = ", ".join(decision.top_labels)
    if decision.status in (Status.REJECTED, Status.FAILED):
        tags["photosort-reason"] = decision.reason
    return storage.move(s3, inspection.object, decision.destination_key, sha256=inspection.sha256 or "", tags=tags)


# -- Quarantine (the Catch target) ----------------------------------------------------------------------------
def quarantine(s3: Any, repo: Repository, ref: ObjectRef, error: FailureInfo) -> Decision:
    """Record the failure and move the object under failed/, so nothing stays behind in incoming/."""
    found = storage.resolve(s3, ref)
    if found is None:
        # Nothing left to move. Either another delivery of this event finished first (its record stands;
        # the event may name the key encoded or plain, so look under each form) or someone deleted it.
        for key in storage.key_candidates(ref.key):
            stored = repo.get(image_id(ref.model_copy(update={"key": key})))
            if stored is not None:
                return _decision(stored, created=False)
        plain = storage.key_candidates(ref.key)[0]
        rec = ImageRecord.build(
            image_id=image_id(ref.model_copy(update={"key": plain})),
            bucket=ref.bucket,
            source_key=plain,
            destination_key=plain,
            status=Status.FAILED,
            reason=f"{error.error}: object disappeared before it could be set aside",
            error=error.cause[:1000],
        )
        return _decision(repo.mark_failed(rec), created=True)
    iid = image_id(found)  # the id Inspect computed: it uses the resolved key too
    sha = _stream_sha256(s3, found)
    rec = ImageRecord.build(
        image_id=iid,
        bucket=found.bucket,
        source_key=found.key,
        destination_key=_aside_key(constants.FAILED_PREFIX, found.key, sha),
        status=Status.FAILED,
        reason=f"{error.error}: {_short_cause(error.cause)}",
        error=error.cause[:1000],
        sha256=sha,
    )
    failed = repo.mark_failed(rec)
    decision = _decision(failed, created=True)
    storage.move(
        s3,
        found,
        failed.destination_key,
        sha256=sha,
        tags={"photosort-status": Status.FAILED.value, "photosort-reason": failed.reason},
    )
    return decision


def _short_cause(cause: str) -> str:
    try:
        parsed = json.loads(cause)
        return str(parsed.get("errorMessage", cause))[:300]
    except (ValueError, AttributeError):
        return cause[:300]
