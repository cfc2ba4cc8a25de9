"""S3 access for the pipeline: find the object an event names, read it, and move it safely.

A move is copy, verify, then delete. The original is deleted only after the copy is verified to hold the
same bytes (length, and S3's own SHA-256 checksum of the copy), and a key that already holds a *different*
photo is never overwritten.
Every step is safe to replay after a crash at any point.
"""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any
from urllib.parse import quote, unquote_plus, urlencode

from botocore.exceptions import ClientError

from photosort.errors import DestinationConflictError, SourceChangedError
from photosort.models import MoveResult, ObjectRef

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
    body = _get(s3, ref)
    digest = hashlib.sha256()
    with body:
        for chunk in iter(lambda: body.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tag_value(text: str) -> str:
    """S3 tag values allow letters, digits, spaces and ``+ - = . _ : / @``, up to 256 characters."""
    return _TAG_VALUE_UNSAFE.sub("_", text)[:256]


def _tagging(tags: dict[str, str]) -> str:
    return urlencode({k: tag_value(v) for k, v in list(tags.items())[:10]})


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
    return found.get("ChecksumSHA256") == base64.b64encode(bytes.fromhex(sha256)).decode()


def move(
    s3: Any,
    source: ObjectRef,
    destination_key: str,
    *,
    sha256: str,
    tags: dict[str, str] | None = None,
) -> MoveResult:
    """Copy ``source`` to ``destination_key`` in the same bucket, verify the copy, then delete the source.

    Replay-safe: if the destination already holds this photo the copy is skipped; if the source is already
    gone and the destination is verified, the move is reported as already done.
    """
    bucket = source.bucket
    existing = head(s3, bucket, destination_key)
    if existing is not None and existing.get("Metadata", {}).get(SHA_META) != sha256:
        raise DestinationConflictError(
            f"s3://{bucket}/{destination_key} already holds a different object; refusing to overwrite it"
        )
    src = head(s3, bucket, source.key, source.version_id)
    if src is None:
        if _verified(s3, bucket, destination_key, sha256, source.size):
            return MoveResult(source_key=source.key, destination_key=destination_key, moved=False, already_done=True)
        raise SourceChangedError(f"s3://{bucket}/{source.key} is gone and no verified copy exists")
    if source.etag and _etag(src.get("ETag")) != source.etag:
        raise SourceChangedError(f"s3://{bucket}/{source.key} was replaced since the event was sent")
    copied_checksum: str | None = None
    if existing is None:
        copy_source: dict[str, str] = {"Bucket": bucket, "Key": source.key}
        if source.version_id:
            copy_source["VersionId"] = source.version_id
        kwargs: dict[str, Any] = {
            "Bucket": bucket,
            "Key": destination_key,
            "CopySource": copy_source,
            "MetadataDirective": "REPLACE",
            "Metadata": {**src.get("Metadata", {}), SHA_META: sha256, SOURCE_META: quote(source.key)[:1024]},
            "ContentType": src.get("ContentType", "binary/octet-stream"),
            "ChecksumAlgorithm": "SHA256",
            "TaggingDirective": "REPLACE",
            "Tagging": _tagging(tags or {}),
        }
        for field in ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage"):
            if src.get(field):
                kwargs[field] = src[field]
        if source.etag:
            kwargs["CopySourceIfMatch"] = source.etag
        try:
            copied_checksum = s3.copy_object(**kwargs).get("CopyObjectResult", {}).get("ChecksumSHA256")
        except ClientError as exc:
            if _missing(exc) and _verified(s3, bucket, destination_key, sha256, source.size):
                # A concurrent delivery of the same event moved it between our checks and our copy.
                return MoveResult(
                    source_key=source.key, destination_key=destination_key, moved=False, already_done=True
                )
            if _missing(exc) or exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
                raise SourceChangedError(f"s3://{bucket}/{source.key} changed during the move") from exc
            raise
    # S3 computed the copy's SHA-256 (ChecksumAlgorithm) and returned it: equal to the hash of the bytes Inspect read
    # (and CopySourceIfMatch pinned the source to them), the copy is verified without another HEAD.
    by_copy = copied_checksum is not None and copied_checksum == base64.b64encode(bytes.fromhex(sha256)).decode()
    if not by_copy and not _verified(s3, bucket, destination_key, sha256, src["ContentLength"]):
        raise DestinationConflictError(
            f"copy to s3://{bucket}/{destination_key} could not be verified; the original was kept"
        )
    s3.delete_object(Bucket=bucket, Key=source.key)
    return MoveResult(source_key=source.key, destination_key=destination_key, moved=True)
