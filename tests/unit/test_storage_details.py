"""storage's smaller contracts, each pinned (found by ``make mutation MODULES=photosort.storage``): which S3 error
codes mean "gone", what a move carries over to the copy, how an event's key and ETag are read, and the race in
which another delivery finishes the move between our checks and our copy."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from botocore.exceptions import ClientError

from photosort import storage
from photosort.errors import DestinationConflictError, SourceChangedError
from photosort.models import ObjectRef
from tests.support.buckets import BUCKET, put
from tests.support.clients import Client

DEST = "albums/pets/2026/a.jpg"
PHOTO = b"\xff\xd8 a photo \xff\xd9"


def error(code: str, operation: str = "HeadObject") -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "test"}}, operation)


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


# -- reading ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("code", ["404", "NoSuchKey", "NotFound", "NoSuchVersion"])
def test_each_code_for_a_missing_object_means_gone(code: str) -> None:
    assert storage._missing(error(code))


@pytest.mark.parametrize("code", ["403", "AccessDenied", "SlowDown", "InternalError", "PreconditionFailed"])
def test_other_errors_do_not_mean_gone(code: str) -> None:
    assert not storage._missing(error(code))


def test_head_of_a_missing_object_is_none_and_other_errors_propagate(s3: Any) -> None:
    assert storage.head(s3, BUCKET, "incoming/none.jpg") is None
    denied = Client(s3, head_object=lambda **kw: (_ for _ in ()).throw(error("403")))
    with pytest.raises(ClientError):
        storage.head(denied, BUCKET, "incoming/none.jpg")


def test_reading_an_object_deleted_since_the_event_is_source_changed(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", PHOTO)
    s3.delete_object(Bucket=BUCKET, Key="incoming/a.jpg")

    with pytest.raises(SourceChangedError, match="is gone"):
        storage.read(s3, ref)


def test_a_bare_412_on_the_read_is_source_changed(s3: Any) -> None:
    """S3 answers a failed ``IfMatch`` with ``PreconditionFailed``, or a bare ``412`` where it sends no body."""
    ref, _ = put(s3, "incoming/a.jpg", PHOTO)
    stale = Client(s3, get_object=lambda **kw: (_ for _ in ()).throw(error("412", "GetObject")))

    with pytest.raises(SourceChangedError, match="changed since the event"):
        storage.read(stale, ref)


def test_other_read_errors_propagate_unchanged(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", PHOTO)
    denied = Client(s3, get_object=lambda **kw: (_ for _ in ()).throw(error("AccessDenied", "GetObject")))

    with pytest.raises(ClientError, match="AccessDenied"):
        storage.read(denied, ref)


def test_reading_pins_the_announced_version_of_a_versioned_object(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=b"first")
    s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=b"second")
    ref = ObjectRef(bucket=BUCKET, key="incoming/a.jpg", size=5, version_id=first["VersionId"])

    assert storage.read(s3, ref) == b"first"
    assert storage.stream_sha256(s3, ref) == hashlib.sha256(b"first").hexdigest()
    found = storage.resolve(s3, ref.model_copy(update={"size": 0}))
    assert found is not None and found.size == 5


def test_the_hash_of_a_large_object_is_read_in_bounded_chunks(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", PHOTO * 1000)
    sizes: list[int | None] = []

    def get_object(**kwargs: Any) -> dict[str, Any]:
        response: dict[str, Any] = s3.get_object(**kwargs)
        body = response["Body"]
        real_read = body.read

        def read(amt: int | None = None) -> bytes:
            sizes.append(amt)
            return real_read(amt)  # type: ignore[no-any-return]

        body.read = read
        return response

    digest = storage.stream_sha256(Client(s3, get_object=get_object), ref)

    assert digest == hashlib.sha256(PHOTO * 1000).hexdigest()
    assert sizes and all(size == storage._CHUNK for size in sizes)  # never the whole object at once


def test_resolve_reports_the_objects_size_and_etag(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", PHOTO)

    found = storage.resolve(s3, ObjectRef(bucket=BUCKET, key="incoming/a.jpg", size=0))

    assert found is not None
    assert (found.size, found.etag) == (len(PHOTO), ref.etag)
    assert storage.resolve(s3, ObjectRef(bucket=BUCKET, key="incoming/none.jpg", size=0)) is None


def test_an_event_key_that_needs_no_decoding_is_tried_once() -> None:
    assert storage.key_candidates("incoming/a.jpg") == ["incoming/a.jpg"]
    assert storage.key_candidates("incoming/a+b.jpg") == ["incoming/a b.jpg", "incoming/a+b.jpg"]


def test_etags_lose_their_quotes_and_none_stays_none() -> None:
    assert storage._etag('"0123abcd"') == "0123abcd"
    assert storage._etag("0123abcd-2") == "0123abcd-2"
    assert storage._etag(None) is None


# -- tags -------------------------------------------------------------------------------------------------------
def test_tag_values_keep_only_what_s3_allows_and_at_most_256_characters() -> None:
    assert storage.tag_value("pets/cat: 0.97 +=@_.-") == "pets/cat: 0.97 +=@_.-"
    assert storage.tag_value("a#b,c") == "a_b_c"
    assert storage.tag_value("x" * 300) == "x" * 256


def test_a_move_writes_at_most_ten_tags_s3s_limit(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    tags = {f"k{i:02}": f"v{i}" for i in range(12)}

    storage.move(s3, ref, DEST, sha256=sha, tags=tags)

    written = s3.get_object_tagging(Bucket=BUCKET, Key=DEST)["TagSet"]
    assert sorted(t["Key"] for t in written) == [f"k{i:02}" for i in range(10)]
    assert dict(parse_qsl(storage._tagging(tags))) == {f"k{i:02}": f"v{i}" for i in range(10)}


# -- what a move carries over -----------------------------------------------------------------------------------
def test_a_move_keeps_the_sources_headers_and_metadata_and_replaces_its_tags(s3: Any) -> None:
    headers = {
        "CacheControl": "max-age=60",
        "ContentDisposition": 'inline; filename="a.jpg"',
        "ContentEncoding": "identity",
        "ContentLanguage": "en",
    }
    s3.put_object(
        Bucket=BUCKET,
        Key="incoming/a.jpg",
        Body=PHOTO,
        ContentType="image/jpeg",
        Metadata={"camera": "x100"},
        Tagging="uploader=alice",
        **headers,
    )
    etag = s3.head_object(Bucket=BUCKET, Key="incoming/a.jpg")["ETag"].strip('"')
    ref = ObjectRef(bucket=BUCKET, key="incoming/a.jpg", size=len(PHOTO), etag=etag)
    sha = hashlib.sha256(PHOTO).hexdigest()

    storage.move(s3, ref, DEST, sha256=sha, tags={"photosort-status": "sorted"})

    copy = s3.head_object(Bucket=BUCKET, Key=DEST)
    assert {field: copy.get(field) for field in headers} == headers
    assert copy["ContentType"] == "image/jpeg"
    assert copy["Metadata"] == {"camera": "x100", storage.SHA_META: sha, storage.SOURCE_META: "incoming/a.jpg"}
    tags = s3.get_object_tagging(Bucket=BUCKET, Key=DEST)["TagSet"]
    assert tags == [{"Key": "photosort-status", "Value": "sorted"}]  # the source's tags are replaced


def test_the_source_key_in_the_copys_metadata_is_cut_at_1024_characters(s3: Any) -> None:
    key = "incoming/" + "é" * 300 + ".jpg"  # 9 + 1800 + 4 characters once percent-encoded
    ref, sha = put(s3, key, PHOTO)

    storage.move(s3, ref, DEST, sha256=sha)

    recorded = s3.head_object(Bucket=BUCKET, Key=DEST)["Metadata"][storage.SOURCE_META]
    assert recorded == quote(key)[:1024] and len(recorded) == 1024


# -- the move's other paths -------------------------------------------------------------------------------------
def test_a_source_gone_without_a_copy_is_source_changed(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    s3.delete_object(Bucket=BUCKET, Key="incoming/a.jpg")

    with pytest.raises(SourceChangedError, match="no verified copy"):
        storage.move(s3, ref, DEST, sha256=sha)

    assert keys(s3) == []


def test_a_destination_holding_the_right_bytes_without_our_hash_does_not_verify(s3: Any) -> None:
    """The proof needs our SHA-256 metadata too: bytes alone (someone else's upload of the same photo) are not
    a copy this move made."""
    sha = hashlib.sha256(PHOTO).hexdigest()
    s3.put_object(Bucket=BUCKET, Key=DEST, Body=PHOTO, ChecksumAlgorithm="SHA256")

    assert not storage._verified(s3, BUCKET, DEST, sha, len(PHOTO))
    s3.put_object(Bucket=BUCKET, Key=DEST, Body=PHOTO, ChecksumAlgorithm="SHA256", Metadata={storage.SHA_META: sha})
    assert storage._verified(s3, BUCKET, DEST, sha, len(PHOTO))
    assert not storage._verified(s3, BUCKET, DEST, sha, len(PHOTO) + 1)
    assert not storage._verified(s3, BUCKET, "albums/none.jpg", sha, len(PHOTO))


def finished_by_another_delivery(s3: Any, ref: ObjectRef, sha: str) -> Client:
    """A client on which another delivery of the same event completes the move just before our CopyObject."""

    def copy_object(**kwargs: Any) -> dict[str, Any]:
        storage.move(s3, ref, DEST, sha256=sha)  # the other delivery: copy, verify, delete
        return s3.copy_object(**kwargs)  # type: ignore[no-any-return]  # ours: the source is gone (NoSuchKey)

    return Client(s3, copy_object=copy_object)


def test_a_move_finished_by_a_concurrent_delivery_is_already_done(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)

    result = storage.move(finished_by_another_delivery(s3, ref, sha), ref, DEST, sha256=sha)

    assert result.model_dump() == {
        "source_key": "incoming/a.jpg",
        "destination_key": DEST,
        "moved": False,
        "already_done": True,
    }
    assert keys(s3) == [DEST]


def test_a_source_deleted_mid_move_without_a_verified_copy_is_source_changed(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)

    def copy_object(**kwargs: Any) -> dict[str, Any]:
        s3.delete_object(Bucket=BUCKET, Key="incoming/a.jpg")  # deleted by someone, not moved
        return s3.copy_object(**kwargs)  # type: ignore[no-any-return]

    with pytest.raises(
        SourceChangedError, match=rf"^s3://{BUCKET}/incoming/a\.jpg is gone and no verified copy exists$"
    ):
        storage.move(Client(s3, copy_object=copy_object), ref, DEST, sha256=sha)

    assert keys(s3) == []


@pytest.mark.parametrize("code", ["PreconditionFailed", "412"])
def test_a_copy_refused_by_its_precondition_is_source_changed(s3: Any, code: str) -> None:
    """``CopySourceIfMatch`` failing: S3 says ``PreconditionFailed``, or a bare ``412``."""
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    refused = Client(s3, copy_object=lambda **kw: (_ for _ in ()).throw(error(code, "CopyObject")))

    with pytest.raises(SourceChangedError, match=rf"^s3://{BUCKET}/incoming/a\.jpg changed during the move$"):
        storage.move(refused, ref, DEST, sha256=sha)

    assert keys(s3) == ["incoming/a.jpg"]


def test_other_copy_errors_propagate_and_keep_the_original(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    denied = Client(s3, copy_object=lambda **kw: (_ for _ in ()).throw(error("AccessDenied", "CopyObject")))

    with pytest.raises(ClientError, match="AccessDenied"):
        storage.move(denied, ref, DEST, sha256=sha)

    assert keys(s3) == ["incoming/a.jpg"]


def test_a_replay_of_a_finished_move_is_already_done_with_both_keys(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    storage.move(s3, ref, DEST, sha256=sha)

    again = storage.move(s3, ref, DEST, sha256=sha)

    assert (again.source_key, again.destination_key, again.moved, again.already_done) == (
        "incoming/a.jpg",
        DEST,
        False,
        True,
    )


def test_a_destination_with_our_hash_but_other_bytes_is_never_trusted(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    s3.put_object(Bucket=BUCKET, Key=DEST, Body=b"other", Metadata={storage.SHA_META: sha})

    with pytest.raises(DestinationConflictError, match="already holds a different object"):
        storage.move(s3, ref, DEST, sha256=sha)

    assert keys(s3) == [DEST, "incoming/a.jpg"]


# -- fetch: Inspect's one GetObject ----------------------------------------------------------------------------
def test_fetch_tries_the_key_as_given_when_its_decoded_form_is_missing(s3: Any) -> None:
    """An event key that decodes to a key that does not exist (a literal '+' sent plain) is tried as given."""
    s3.put_object(Bucket=BUCKET, Key="incoming/1+1.jpg", Body=PHOTO)  # decodes to "incoming/1 1.jpg": missing

    fetched = storage.fetch(s3, ObjectRef(bucket=BUCKET, key="incoming/1+1.jpg", size=0))

    assert fetched is not None and fetched[0].key == "incoming/1+1.jpg" and fetched[1].read() == PHOTO
    assert storage.fetch(s3, ObjectRef(bucket=BUCKET, key="incoming/none+here.jpg", size=0)) is None


def test_fetch_reads_the_announced_version_and_its_headers(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=BUCKET, Key="incoming/v.jpg", Body=PHOTO, ContentType="image/jpeg")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="incoming/v.jpg", Body=b"a newer upload")

    fetched = storage.fetch(s3, ObjectRef(bucket=BUCKET, key="incoming/v.jpg", size=0, version_id=first))

    assert fetched is not None and fetched[1].read() == PHOTO
    assert fetched[0].size == len(PHOTO) and fetched[0].headers is not None
    assert fetched[0].headers.content_type == "image/jpeg"


def test_source_headers_keep_what_a_copy_needs() -> None:
    got = storage.source_headers({"ContentType": "image/png", "Metadata": {"a": "b"}, "CacheControl": "no-cache"})
    assert (got.content_type, got.metadata, got.cache_control) == ("image/png", {"a": "b"}, "no-cache")
    assert storage.source_headers({}).content_type == "binary/octet-stream"  # what S3 says for an object without one


def test_a_move_from_inspect_finished_by_a_concurrent_delivery_is_already_done(s3: Any) -> None:
    """The same as above for a ref that carries Inspect's headers (no HEAD first): the copy meets NoSuchKey."""
    put(s3, "incoming/a.jpg", PHOTO)
    found = storage.fetch(s3, ObjectRef(bucket=BUCKET, key="incoming/a.jpg", size=0))
    assert found is not None
    ref, sha = found[0], hashlib.sha256(PHOTO).hexdigest()

    result = storage.move(finished_by_another_delivery(s3, ref, sha), ref, DEST, sha256=sha)

    assert (result.moved, result.already_done) == (False, True) and keys(s3) == [DEST]


def test_a_replay_on_a_versioned_bucket_deletes_only_the_announced_version(s3: Any) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=PHOTO)["VersionId"]
    found = storage.fetch(s3, ObjectRef(bucket=BUCKET, key="incoming/a.jpg", size=0, version_id=version))
    assert found is not None
    ref, sha = found[0], hashlib.sha256(PHOTO).hexdigest()
    s3.copy_object(  # an earlier attempt's verified copy
        Bucket=BUCKET,
        Key=DEST,
        CopySource={"Bucket": BUCKET, "Key": "incoming/a.jpg", "VersionId": version},
        MetadataDirective="REPLACE",
        Metadata={storage.SHA_META: sha},
        ChecksumAlgorithm="SHA256",
    )

    result = storage.move(s3, ref, DEST, sha256=sha)

    assert result.moved and not result.already_done
