"""The safe move (copy, verify, delete) against moto S3: replays, crashes between steps, conflicts."""

from __future__ import annotations

from typing import Any

import pytest

from photosort import storage
from photosort.errors import DestinationConflictError, SourceChangedError
from photosort.models import ObjectRef
from tests.support.buckets import BUCKET, put


def keys(s3: Any) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_move_copies_verifies_then_deletes(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")

    result = storage.move(s3, ref, "albums/x/a.jpg", sha256=sha, tags={"photosort-status": "sorted"})

    assert result.moved and not result.already_done
    assert keys(s3) == ["albums/x/a.jpg"]
    head = s3.head_object(Bucket=BUCKET, Key="albums/x/a.jpg")
    assert head["Metadata"][storage.SHA_META] == sha and head["ContentType"] == "image/jpeg"


def test_replay_after_a_crash_between_copy_and_delete_ends_with_one_copy(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")
    real_delete = s3.delete_object
    s3.delete_object = lambda **kw: (_ for _ in ()).throw(RuntimeError("crash before delete"))
    with pytest.raises(RuntimeError):
        storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)
    assert keys(s3) == ["albums/x/a.jpg", "incoming/a.jpg"]  # original kept: nothing lost
    s3.delete_object = real_delete

    result = storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)

    assert result.moved
    assert keys(s3) == ["albums/x/a.jpg"]


def test_replay_after_the_move_finished_is_already_done(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")
    storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)

    again = storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)

    assert again.already_done and not again.moved
    assert keys(s3) == ["albums/x/a.jpg"]


def test_never_overwrites_a_different_photo(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")
    s3.put_object(Bucket=BUCKET, Key="albums/x/a.jpg", Body=b"someone else's photo")

    with pytest.raises(DestinationConflictError):
        storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)

    assert s3.get_object(Bucket=BUCKET, Key="albums/x/a.jpg")["Body"].read() == b"someone else's photo"
    assert "incoming/a.jpg" in keys(s3)


def test_a_replaced_source_is_not_moved(s3: Any) -> None:
    ref, sha = put(s3, "incoming/a.jpg", b"photo-a")
    s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=b"a newer upload")

    with pytest.raises(SourceChangedError):
        storage.move(s3, ref, "albums/x/a.jpg", sha256=sha)

    assert keys(s3) == ["incoming/a.jpg"]


def test_a_copy_that_does_not_verify_keeps_the_original(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", b"photo-a")

    with pytest.raises(DestinationConflictError):
        storage.move(s3, ref, "albums/x/a.jpg", sha256="0" * 64)  # wrong hash: verification must fail

    assert "incoming/a.jpg" in keys(s3)


@pytest.mark.parametrize(
    ("plain", "encoded"),
    [
        ("incoming/a b.jpg", "incoming/a+b.jpg"),
        ("incoming/1+1.jpg", "incoming/1%2B1.jpg"),
        ("incoming/10:30.jpg", "incoming/10%3A30.jpg"),
        ("incoming/café.jpg", "incoming/caf%C3%A9.jpg"),
        ("incoming/100%.jpg", "incoming/100%25.jpg"),
    ],
)
def test_event_keys_are_encoded_like_s3_and_both_forms_resolve(s3: Any, plain: str, encoded: str) -> None:
    assert storage.encode_event_key(plain) == encoded
    assert storage.key_candidates(encoded)[0] == plain
    ref, _ = put(s3, plain, b"x")
    for given in (encoded, plain):
        found = storage.resolve(s3, ref.model_copy(update={"key": given}))
        assert found is not None and found.key == plain


def test_resolve_prefers_the_decoded_key_but_accepts_a_plain_plus(s3: Any) -> None:
    put(s3, "incoming/a+b.jpg", b"plus")  # a plain key that contains a literal '+'
    found = storage.resolve(s3, ObjectRef(bucket=BUCKET, key="incoming/a+b.jpg", size=4))
    assert found is not None and found.key == "incoming/a+b.jpg"
