"""The workflow's steps as plain functions: inspect and classify (one invocation), record, sort (plus quarantine).

``inspect`` and ``classify`` stay separate functions too (the backfill runs them). Handlers parse their event
into a model and call exactly one of these. Clients, the backend, the
repository and the rules are passed in, so the same code runs in Lambda, in the embedded stack and in tests.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ConnectionError as BotocoreConnectionError
from botocore.exceptions import HTTPClientError

from photosort import constants, imaging, neardup, routing, storage
from photosort.backends import Classifier, ImageInput
from photosort.errors import BackendThrottledError, HashClaimedError, ImageUnusableError
from photosort.models import (
    Analysis,
    Classification,
    Decision,
    FailureInfo,
    ImageRecord,
    Inspection,
    Membership,
    MoveResult,
    ObjectRef,
    Rejection,
    RejectionReason,
    Status,
)
from photosort.repository import Repository
from photosort.settings import DuplicatePolicy, NearDuplicatePolicy, Settings


def image_id(ref: ObjectRef) -> str:
    """Stable id of one upload: the same event delivered twice maps to the same id."""
    identity = "\n".join([ref.bucket, ref.key, ref.version_id or "", ref.sequencer or "", ref.etag or ""])
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


# -- 1. Inspect ---------------------------------------------------------------------------------------------
def inspect(s3: Any, ref: ObjectRef, received_at: datetime, settings: Settings) -> Inspection:
    """Find the object, identify it from its bytes, and either describe it or say why it is unusable.

    One GetObject (no HeadObject): the response names the size, ETag and headers of exactly the bytes read.
    """
    return _inspect(s3, ref, received_at, settings)[0]


def _inspect(
    s3: Any, ref: ObjectRef, received_at: datetime, settings: Settings, decode_size: tuple[int, int] | None = None
) -> tuple[Inspection, bytes | None, imaging.Decoded | None]:
    """The inspection, the bytes it read (None when it read none it could use), and the first frame decoded at
    ``decode_size`` when one is asked for (None otherwise, or when the image is unusable)."""
    fetched = storage.fetch(s3, ref)
    if fetched is None:
        return Inspection(object=ref, received_at=received_at, usable=False, gone=True), None, None
    found, body = fetched
    if found.size > settings.max_image_bytes:
        return (
            Inspection(
                object=found,
                received_at=received_at,
                usable=False,
                sha256=storage.sha256_of(body),
                rejection=Rejection(
                    reason=RejectionReason.TOO_LARGE,
                    detail=f"{found.size} bytes exceeds the limit of {settings.max_image_bytes} bytes",
                ),
            ),
            None,
            None,
        )
    with body:
        data: bytes = body.read()
    sha = hashlib.sha256(data).hexdigest()
    decoded = None
    try:
        if decode_size is None:
            metadata = imaging.inspect_image(data, max_pixels=settings.max_image_pixels)
        else:
            metadata, decoded = imaging.inspect_and_decode(
                data, max_pixels=settings.max_image_pixels, draft_size=decode_size
            )
    except ImageUnusableError as exc:
        return (
            Inspection(
                object=found,
                received_at=received_at,
                usable=False,
                sha256=sha,
                rejection=Rejection(reason=exc.reason, detail=exc.detail[:500]),
            ),
            None,
            None,
        )
    inspection = Inspection(object=found, received_at=received_at, usable=True, sha256=sha, metadata=metadata)
    return inspection, data, decoded


# -- 1+2. Inspect and classify, in one invocation ----------------------------------------------------------------
def inspect_and_classify(
    s3: Any, backend: Classifier, ref: ObjectRef, received_at: datetime, settings: Settings
) -> Analysis:
    """Inspect the upload and classify it from the same bytes: one GetObject and one invocation per photo.

    An unusable upload gets no classification (Record rejects it, saying why). A backend that refuses the image
    (ImageUnusableError) gives ``backend_rejection``, as the state machine's Catch did when Classify was a step
    of its own. A throttled or unreachable backend raises BackendThrottledError (the state machine retries).
    """
    inspection, data, decoded = _inspect(s3, ref, received_at, settings, getattr(backend, "decode_size", None))
    if not inspection.usable or inspection.metadata is None or data is None:
        return Analysis(inspection=inspection)
    image = ImageInput(ref=inspection.object, metadata=inspection.metadata, fetch=lambda: data, decoded=decoded)
    try:
        classification = _classify(backend, image)
    except ImageUnusableError as exc:
        cause = json.dumps({"errorMessage": str(exc), "errorType": type(exc).__name__})
        return Analysis(inspection=inspection, backend_rejection=FailureInfo(error=type(exc).__name__, cause=cause))
    return Analysis(inspection=inspection, classification=classification)


# -- 2. Classify --------------------------------------------------------------------------------------------
def classify(s3: Any, backend: Classifier, inspection: Inspection) -> Classification:
    if inspection.metadata is None:
        raise ValueError("Classify only runs on usable images (inspect_and_classify checks; so does the backfill)")
    image = ImageInput(
        ref=inspection.object, metadata=inspection.metadata, fetch=lambda: storage.read(s3, inspection.object)
    )
    return _classify(backend, image)


def _classify(backend: Classifier, image: ImageInput) -> Classification:
    try:
        return backend.classify(image).capped()
    except (BotocoreConnectionError, HTTPClientError) as exc:
        # A timeout or dropped connection that outlasted botocore's own retries: transient, so it takes the
        # state machine's backoff-and-retry path instead of sending the photo to failed/.
        raise BackendThrottledError(f"{backend.name}: network error reaching the service: {exc}") from exc


# -- 3. Record ----------------------------------------------------------------------------------------------
def decide_record(
    rules: routing.RuleSet,
    inspection: Inspection,
    classification: Classification | None,
    backend_rejection: FailureInfo | None = None,
    *,
    now: datetime,
) -> ImageRecord:
    """The record to write for an image, from what Inspect and Classify found and the routing rules (pure).

    An image without a classification is rejected (the reason says why); a classified one goes to the album
    of the first matching rule, or to unsorted/ when none matches.
    """
    ref = inspection.object
    memberships: tuple[Membership, ...] = ()
    if not inspection.usable or classification is None:
        status = Status.REJECTED
        reason = _rejection_reason(inspection, backend_rejection)
        destination = routing.aside_key(constants.REJECTED_PREFIX, ref.key, inspection.sha256)
    else:
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
            status = Status.SORTED
            reason = f"matched rule {primary.album!r} with label {primary.label!r} ({primary.confidence:.1f}%)"
        else:
            status = Status.UNSORTED
            best = classification.labels[0] if classification.labels else None
            reason = (
                f"no rule matched: best label {best.name!r} ({best.confidence:.1f}%)" if best else "no labels returned"
            )
    return ImageRecord(
        image_id=image_id(ref),
        bucket=ref.bucket,
        source_key=ref.key,
        destination_key=destination,
        status=status,
        reason=reason,
        sha256=inspection.sha256,
        labels=classification.labels if classification else (),
        face_count=classification.face_count if classification else None,
        faces=(classification.faces or ()) if classification else (),
        backend=classification.backend if classification else None,
        model_version=classification.model_version if classification else None,
        embedding=classification.embedding if classification else None,
        metadata=inspection.metadata,
        memberships=memberships,
        created_at=now,
        updated_at=now,
    )


def duplicate_record(record: ImageRecord, owner: str, policy: DuplicatePolicy) -> ImageRecord:
    """The same record, as a duplicate of image ``owner`` (pure).

    A duplicate joins no album (its bytes are counted once, under the owner). With ``set-aside`` it moves under
    duplicates/; with ``sort`` it goes where the original decision sent it.
    """
    aside = policy is DuplicatePolicy.SET_ASIDE
    return record.model_copy(
        update={
            "status": Status.DUPLICATE,
            "reason": f"same bytes as image {owner}; policy {policy.value}",
            "duplicate_of": owner,
            "near_duplicate_of": None,  # exact duplicates are only that
            "near_duplicate_similarity": None,
            "memberships": (),
            "destination_key": (
                routing.aside_key(constants.DUPLICATES_PREFIX, record.source_key, record.sha256)
                if aside
                else record.destination_key
            ),
        }
    )


def near_duplicate_record(record: ImageRecord, match: neardup.NearMatch, policy: NearDuplicatePolicy) -> ImageRecord:
    """The same record, as a near-duplicate of the first photo ``match`` names (pure).

    ``record`` keeps it where the rules sent it (and in its albums); ``set-aside`` treats it like an exact
    duplicate: under duplicates/, in no album.
    """
    note = f"near-duplicate of image {match.image_id} (cosine {match.similarity:.3f})"
    update: dict[str, Any] = {"near_duplicate_of": match.image_id, "near_duplicate_similarity": match.similarity}
    if policy is NearDuplicatePolicy.SET_ASIDE:
        update |= {
            "status": Status.DUPLICATE,
            "reason": f"{note}; policy {policy.value}",
            "memberships": (),
            "destination_key": routing.aside_key(constants.DUPLICATES_PREFIX, record.source_key, record.sha256),
        }
    else:
        update["reason"] = f"{record.reason}; {note}"
    return record.model_copy(update=update)


def record(
    repo: Repository,
    rules: routing.RuleSet,
    duplicate_policy: DuplicatePolicy,
    inspection: Inspection,
    classification: Classification | None,
    backend_rejection: FailureInfo | None = None,
    near: neardup.NearDuplicateSettings | None = None,
) -> Decision:
    """Write the image's record (with its album memberships and counts) and return where it goes and why.

    A replayed event returns the stored decision. Bytes another image already owns are recorded as a
    duplicate of it, following ``duplicate_policy``; a photo whose embedding is close to an earlier photo's is
    recorded as its near-duplicate, following ``near`` (off when None).
    """
    # No read first: a replayed event (the same image id) finds its stored record when the record's conditional put
    # fails, and gets that decision back (repository.save), with its album members repaired.
    decided = decide_record(rules, inspection, classification, backend_rejection, now=datetime.now(UTC))
    index_items: list[dict[str, Any]] = []
    if near is not None and decided.status is not Status.REJECTED and decided.embedding is not None:
        index = neardup.NearDuplicateIndex(repo.client, repo.table_name, threshold=near.threshold)
        found = index.find(decided.embedding, exclude=decided.image_id)
        if found is None:
            index_items = index.index_items(decided.image_id, decided.embedding, decided.created_at.isoformat())
        else:
            decided = near_duplicate_record(decided, found, near.policy)
    try:
        saved, created = repo.save(decided, claim_hash=decided.status is not Status.REJECTED, extra_items=index_items)
    except HashClaimedError as claimed:
        owner = repo.get(claimed.owner)
        if owner is not None and owner.bucket == decided.bucket and owner.source_key == decided.source_key:
            # The same bytes at the same key: another event for this very object (a second notification,
            # or the same file uploaded again). Follow the owner's decision, so both executions move the
            # object to one key and no second record points at a key that never gets written.
            return Decision.from_record(owner, created=False)
        saved, created = repo.save(duplicate_record(decided, claimed.owner, duplicate_policy), claim_hash=False)
    return Decision.from_record(saved, created=created)


def _rejection_reason(inspection: Inspection, backend_rejection: FailureInfo | None) -> str:
    if backend_rejection is not None:  # the backend refused the image (e.g. a format it cannot take)
        return f"BackendRejected: {_short_cause(backend_rejection.cause)}"
    if inspection.rejection is not None:
        return f"{inspection.rejection.reason.value}: {inspection.rejection.detail}"
    return "not a usable image"


# -- 4. Sort ------------------------------------------------------------------------------------------------
def sort(s3: Any, inspection: Inspection, decision: Decision) -> MoveResult:
    """Move the object to the decided key (copy, verify, delete), tagged with its status and top labels."""
    tags = {"photosort-status": decision.status.value}
    if decision.memberships:
        tags["photosort-album"] = decision.memberships[0].album
    if decision.top_labels:
        tags["photosort-labels"] = " + ".join(decision.top_labels)  # commas are not allowed in S3 tag values
    if decision.near_duplicate_of:
        tags["photosort-near-duplicate-of"] = decision.near_duplicate_of
    if decision.status in (Status.REJECTED, Status.FAILED):
        tags["photosort-reason"] = decision.reason
    return storage.move(s3, inspection.object, decision.destination_key, sha256=inspection.sha256 or "", tags=tags)


# -- Quarantine (the Catch target) ----------------------------------------------------------------------------
def _failed_record(
    ref: ObjectRef, destination_key: str, error: FailureInfo, reason: str, sha256: str | None
) -> ImageRecord:
    now = datetime.now(UTC)
    return ImageRecord(
        image_id=image_id(ref),
        bucket=ref.bucket,
        source_key=ref.key,
        destination_key=destination_key,
        status=Status.FAILED,
        reason=f"{error.error}: {reason}",
        error=error.cause[:1000],
        sha256=sha256,
        created_at=now,
        updated_at=now,
    )


def quarantine(s3: Any, repo: Repository, ref: ObjectRef, error: FailureInfo) -> Decision:
    """Record the failure and move the object under failed/, so nothing stays behind in incoming/."""
    found = storage.resolve(s3, ref)
    if found is None:
        # Nothing left to move. Either another delivery of this event finished first (its record stands;
        # the event may name the key encoded or plain, so look under each form) or someone deleted it.
        for key in storage.key_candidates(ref.key):
            stored = repo.get(image_id(ref.model_copy(update={"key": key})))
            if stored is not None:
                return Decision.from_record(stored, created=False)
        plain = ref.model_copy(update={"key": storage.key_candidates(ref.key)[0]})
        gone = _failed_record(plain, plain.key, error, "object disappeared before it could be set aside", None)
        return Decision.from_record(repo.mark_failed(gone), created=True)
    # ``found`` carries the resolved key, so the image id is the one Inspect computed.
    sha = storage.stream_sha256(s3, found)
    destination = routing.aside_key(constants.FAILED_PREFIX, found.key, sha)
    failed = repo.mark_failed(_failed_record(found, destination, error, _short_cause(error.cause), sha))
    decision = Decision.from_record(failed, created=True)
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
