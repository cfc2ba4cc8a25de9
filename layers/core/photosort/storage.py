"""S3 access for the pipeline: find the object an event names, read it, and move it safely.

Inspect finds and reads the object with one GetObject (:func:`fetch`); Classify reads it once more
(:func:`read`, pinned to the ETag Inspect saw).

A move is copy, verify, then delete, with S3's conditional requests doing the checks (no HeadObject on the
normal path): the copy is ``CopySourceIfMatch`` (the bytes Inspect hashed) and ``IfNoneMatch: *`` (a key that
already holds anything, a *different* photo included, is never overwritten), and the original is deleted only
after the copy is verified by S3's own full-object SHA-256 of the copy (``ChecksumAlgorithm``), which the copy
returns. Only when a condition fails does :func:`move` look (HeadObject) to tell a replay from a conflict.
Every step is safe to replay after a crash at any point.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

from botocore.exceptions import ClientError

from photosort.errors import DestinationConflictError, PhotosortError, SourceChangedError
from photosort.models import MoveResult, ObjectRef, SourceHeaders

SHA_META = "photosort-sha256"
SOURCE_META = "photosort-source-key"
_TAG_VALUE_UNSAFE = re.compile(r"[^\w +\-=.:/@]", re.UNICODE)
_CHUNK = 8 * 1024 * 1024


def key_candidates(event_key: str) -> list[str]:
    """Keys an event's key may stand for, most likely first.

    S3 URL-encodes keys in event notifications (space as ``+``, a literal plus as ``%2B``); some producers
    and hand-written test events send the plain key. Try the decoded form, then the key as given.
    """
    decoded = unquote_plus(event_key)
    return [decoded] if decoded == event_key else [decoded, event_key]


def encode_event_key(key: str) -> str:
    """Encode a key the way S3 does in event notifications (the inverse of ``unquote_plus``)."""
    return quote(key, safe="/~").replace("%20", "+")


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound", "NoSuchVersion")


def _precondition(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412")


def source_headers(response: dict[str, Any]) -> SourceHeaders:
    """The headers a copy keeps, from a GetObject or HeadObject response."""
    return SourceHeaders(
        content_type=response.get("ContentType") or "binary/octet-stream",
        metadata=dict(response.get("Metadata") or {}),
        cache_control=response.get("CacheControl"),
        content_disposition=response.get("ContentDisposition"),
        content_encoding=response.get("ContentEncoding"),
        content_language=response.get("ContentLanguage"),
    )


def _etag(value: str | None) -> str | None:
    return value.strip('"') if value else value


def head(
    s3: Any, bucket: str, key: str, version_id: str | None = None, *, checksum: bool = False
) -> dict[str, Any] | None:
    """HeadObject, or None when the object (or that version) does not exist."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        kwargs["VersionId"] = version_id
    if checksum:
        kwargs["ChecksumMode"] = "ENABLED"
    try:
        return s3.head_object(**kwargs)
    except ClientError as exc:
        if _missing(exc):
            return None
        raise


def resolve(s3: Any, ref: ObjectRef) -> ObjectRef | None:
    """Find the object an event refers to (trying encoded and plain key forms); None if it is gone."""
    for key in key_candidates(ref.key):
        found = head(s3, ref.bucket, key, ref.version_id)
        if found is not None:
            return ref.model_copy(
                update={"key": key, "size": found["ContentLength"], "etag": _etag(found.get("ETag")) or ref.etag}
            )
    return None


def fetch(s3: Any, ref: ObjectRef) -> tuple[ObjectRef, Any] | None:
    """One GetObject for the object an event names (encoded, then plain key form): (found, body), or None if gone.

    ``found`` carries the key that exists, the size, ETag and headers this GET returned, so what is read is
    exactly what is described (one request, no HeadObject). The caller reads (and closes) the body.
    """
    for key in key_candidates(ref.key):
        kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": key}
        if ref.version_id:
            kwargs["VersionId"] = ref.version_id
        try:
            resp = s3.get_object(**kwargs)
        except ClientError as exc:
            if _missing(exc):
                continue
            raise
        found = ref.model_copy(
            update={
                "key": key,
                "size": int(resp["ContentLength"]),
                "etag": _etag(resp.get("ETag")) or ref.etag,
                "headers": source_headers(resp),
            }
        )
        return found, resp["Body"]
    return None


def sha256_of(body: Any) -> str:
    """SHA-256 of a streaming body, read in chunks (for objects too large to hold in memory); closes it."""
    digest = hashlib.sha256()
    with body:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _get(s3: Any, ref: ObjectRef) -> Any:
    """GetObject of the version the event announced, only while its ETag still matches; returns the body."""
    kwargs: dict[str, Any] = {"Bucket": ref.bucket, "Key": ref.key}
    if ref.version_id:
        kwargs["VersionId"] = ref.version_id
    if ref.etag:
        kwargs["IfMatch"] = ref.etag
    try:
        return s3.get_object(**kwargs)["Body"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise SourceChangedError(f"s3://{ref.bucket}/{ref.key} changed since the event was sent") from exc
        if _missing(exc):
            raise SourceChangedError(f"s3://{ref.bucket}/{ref.key} is gone (moved by another delivery?)") from exc
        raise


def read(s3: Any, ref: ObjectRef) -> bytes:
    """The object's bytes (the version the event announced; callers check its size first)."""
    body = _get(s3, ref)
    with body:
        data: bytes = body.read()
    return data


def stream_sha256(s3: Any, ref: ObjectRef) -> str:
    """SHA-256 of the object, read in chunks (for objects too large to hold in memory), same version as read."""
    return sha256_of(_get(s3, ref))


def tag_value(text: str) -> str:
    """S3 tag values allow letters, digits, spaces and ``+ - = . _ : / @``, up to 256 characters."""
    return _TAG_VALUE_UNSAFE.sub("_", text)[:256]


def _tagging(tags: dict[str, str]) -> str:
    return urlencode({k: tag_value(v) for k, v in list(tags.items())[:10]})


def _checksum(sha256: str) -> str:
    return base64.b64encode(bytes.fromhex(sha256)).decode()


def _verified(s3: Any, bucket: str, key: str, sha256: str, size: int) -> bool:
    """True when ``key`` holds exactly the photo with this hash and size.

    The proof is S3's own full-object SHA-256 of the copy (the copy asks for one with ``ChecksumAlgorithm``),
    so a copy without that checksum, or with a composite one (``<base64>-N``), is not verified.
    """
    found = head(s3, bucket, key, checksum=True)
    if found is None:
        return False
    if found.get("Metadata", {}).get(SHA_META) != sha256 or found["ContentLength"] != size:
        return False
    return found.get("ChecksumSHA256") == _checksum(sha256)


def move(
    s3: Any,
    source: ObjectRef,
    destination_key: str,
    *,
    sha256: str,
    tags: dict[str, str] | None = None,
) -> MoveResult:
    """Copy ``source`` to ``destination_key`` in the same bucket, verify the copy, then delete the source.

    Normal path: one conditional CopyObject and one DeleteObject. ``source.headers`` (from Inspect's GET) are
    copied; without them (a ref that did not come from Inspect) one HeadObject reads them first.
    Replay-safe: if the destination already holds this photo the copy is skipped; if the source is already
    gone and the destination is verified, the move is reported as already done.
    """
    bucket = source.bucket
    headers, size = source.headers, source.size
    if headers is None:
        src = _same_source(s3, source)
        if src is None:
            return _replayed(s3, source, destination_key, sha256, size)
        headers, size = source_headers(src), int(src["ContentLength"])
    copy_source: dict[str, str] = {"Bucket": bucket, "Key": source.key}
    if source.version_id:
        copy_source["VersionId"] = source.version_id
    kwargs: dict[str, Any] = {
        "Bucket": bucket,
        "Key": destination_key,
        "CopySource": copy_source,
        "IfNoneMatch": "*",  # never overwrite: a replay or a conflict is told apart below, on the rare path
        "MetadataDirective": "REPLACE",
        "Metadata": {**headers.metadata, SHA_META: sha256, SOURCE_META: quote(source.key)[:1024]},
        "ContentType": headers.content_type,
        "ChecksumAlgorithm": "SHA256",
        "TaggingDirective": "REPLACE",
        "Tagging": _tagging(tags or {}),
    }
    for field, value in (
        ("CacheControl", headers.cache_control),
        ("ContentDisposition", headers.content_disposition),
        ("ContentEncoding", headers.content_encoding),
        ("ContentLanguage", headers.content_language),
    ):
        if value:
            kwargs[field] = value
    if source.etag:
        kwargs["CopySourceIfMatch"] = source.etag
    try:
        copied = s3.copy_object(**kwargs).get("CopyObjectResult", {}).get("ChecksumSHA256")
    except ClientError as exc:
        if _missing(exc):  # the source is gone: another delivery of the same event moved it?
            return _replayed(s3, source, destination_key, sha256, size)
        if not _precondition(exc):
            raise
        # The destination exists, or the source no longer holds the bytes Inspect hashed (S3 says 412 to both).
        if _verified(s3, bucket, destination_key, sha256, size):
            return _finish_replay(s3, source, destination_key)
        raise _not_moved(s3, source, destination_key, "changed during the move") from exc
    # S3 computed the copy's SHA-256 (ChecksumAlgorithm) and returned it: equal to the hash of the bytes Inspect read
    # (and CopySourceIfMatch pinned the source to them), the copy is verified without another request.
    if copied != _checksum(sha256) and not _verified(s3, bucket, destination_key, sha256, size):
        raise DestinationConflictError(
            f"copy to s3://{bucket}/{destination_key} could not be verified; the original was kept"
        )
    s3.delete_object(Bucket=bucket, Key=source.key)
    return MoveResult(source_key=source.key, destination_key=destination_key, moved=True)


def _replayed(s3: Any, source: ObjectRef, destination_key: str, sha256: str, size: int) -> MoveResult:
    """The source is gone: done if the destination holds the verified copy, else a conflict or a changed photo."""
    if _verified(s3, source.bucket, destination_key, sha256, size):
        return MoveResult(source_key=source.key, destination_key=destination_key, moved=False, already_done=True)
    raise _not_moved(s3, source, destination_key, "is gone and no verified copy exists")


def _not_moved(s3: Any, source: ObjectRef, destination_key: str, why: str) -> PhotosortError:
    """Why an unverified move stops: the destination holds a different object, else the source ``why``."""
    if head(s3, source.bucket, destination_key) is not None:
        return DestinationConflictError(
            f"s3://{source.bucket}/{destination_key} already holds a different object; refusing to overwrite it"
        )
    return SourceChangedError(f"s3://{source.bucket}/{source.key} {why}")


def _same_source(s3: Any, source: ObjectRef) -> dict[str, Any] | None:
    """The source's HeadObject, None if it is gone; SourceChangedError if it is no longer the upload of the event."""
    src = head(s3, source.bucket, source.key, source.version_id)
    if src is not None and source.etag and _etag(src.get("ETag")) != source.etag:
        raise SourceChangedError(f"s3://{source.bucket}/{source.key} was replaced since the event was sent")
    return src


def _finish_replay(s3: Any, source: ObjectRef, destination_key: str) -> MoveResult:
    """The destination holds the verified copy already: delete the source if it is still the same upload."""
    if _same_source(s3, source) is None:
        return MoveResult(source_key=source.key, destination_key=destination_key, moved=False, already_done=True)
    s3.delete_object(Bucket=source.bucket, Key=source.key)
    return MoveResult(source_key=source.key, destination_key=destination_key, moved=True)
