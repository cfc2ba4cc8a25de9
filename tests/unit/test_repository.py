"""The DynamoDB repository against moto, with the table built from template.yaml's own definition."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from photosort.errors import HashClaimedError
from photosort.models import CollectionKind, ImageRecord, Label, Membership, Status
from photosort.repository import Repository


def record(image_id: str, sha: str = "a" * 64, albums: tuple[str, ...] = ("pets",)) -> ImageRecord:
    now = datetime.now(UTC)
    return ImageRecord(
        created_at=now,
        updated_at=now,
        image_id=image_id,
        bucket="b",
        source_key=f"incoming/{image_id}.jpg",
        destination_key=f"albums/pets/{image_id}.jpg",
        status=Status.SORTED,
        reason="matched",
        sha256=sha,
        memberships=tuple(Membership(album=a, kind=CollectionKind.ALBUM, label="Cat", confidence=90.0) for a in albums),
    ).model_copy(update={"labels": (Label(name="Cat", confidence=90.5, parents=("Animal",)),)})


def counts(repo: Repository) -> dict[str, int]:
    return {a.album: a.image_count for a in repo.list_albums()}


def test_save_writes_record_memberships_and_counts(repo: Repository) -> None:
    saved, created = repo.save(record("one", albums=("pets", "animals")), claim_hash=True)

    assert created
    assert repo.get("one") == saved
    assert repo.ids_with_hash("a" * 64) == ["one"]
    assert counts(repo) == {"pets": 1, "animals": 1}
    assert [e.image_id for e in repo.list_album("pets").items] == ["one"]


def test_saving_the_same_record_again_changes_nothing(repo: Repository) -> None:
    first, _ = repo.save(record("one"), claim_hash=True)

    again, created = repo.save(record("one"), claim_hash=True)

    assert not created and again == first
    assert counts(repo) == {"pets": 1}
    assert repo.hash_owner("a" * 64) == "one"  # a replay keeps its own claim


def test_same_bytes_under_another_id_is_refused_as_a_duplicate(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)

    with pytest.raises(HashClaimedError) as claimed:
        repo.save(record("two"), claim_hash=True)

    assert claimed.value.owner == "one"
    assert repo.get("two") is None and counts(repo) == {"pets": 1}


def test_mark_failed_takes_the_image_out_of_its_albums(repo: Repository) -> None:
    repo.save(record("one", albums=("pets", "animals")), claim_hash=True)
    failed_input = record("one").model_copy(
        update={"status": Status.FAILED, "reason": "Boom: x", "destination_key": "failed/one.jpg", "memberships": ()}
    )

    failed = repo.mark_failed(failed_input)

    assert failed.status is Status.FAILED and failed.memberships == ()
    assert counts(repo) == {"pets": 0, "animals": 0}
    assert repo.list_album("pets").items == []
    assert repo.hash_owner("a" * 64) is None  # the bytes can be sorted again later
    assert repo.mark_failed(failed_input) == failed  # idempotent


def test_mark_failed_without_a_record_writes_one(repo: Repository) -> None:
    failed = record("new").model_copy(update={"status": Status.FAILED, "memberships": ()})

    stored = repo.mark_failed(failed)

    assert repo.get("new") == stored and counts(repo) == {}


def test_album_listing_is_newest_first_and_paginated(repo: Repository) -> None:
    for i in range(5):
        repo.save(record(f"img{i}", sha=f"{i}" * 64), claim_hash=True)

    first = repo.list_album("pets", limit=2)
    second = repo.list_album("pets", limit=2, next_token=first.next_token)
    third = repo.list_album("pets", limit=2, next_token=second.next_token)

    ids = [e.image_id for page in (first, second, third) for e in page.items]
    assert ids == ["img4", "img3", "img2", "img1", "img0"]
    assert third.next_token is None or repo.list_album("pets", next_token=third.next_token).items == []
