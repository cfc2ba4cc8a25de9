"""repository's smaller contracts, each pinned (found by ``make mutation MODULES=photosort.repository``): the items
README's data model documents, strong reads, every page of a listing, and how a cancelled transaction is read."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from botocore.exceptions import ClientError

from photosort import repository
from photosort.errors import HashClaimedError, InvalidPageTokenError, PhotosortError, StoreBusyError
from photosort.models import CollectionKind, ImageMetadata, ImageRecord, Label, Membership, Status
from photosort.repository import Repository
from tests.support.clients import Client
from tests.support.tables import TABLE

CREATED = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
TAKEN = datetime(2024, 7, 3, 9, 30, tzinfo=timezone(timedelta(hours=2)))


def record(
    image_id: str, sha: str | None = "a" * 64, albums: tuple[str, ...] = ("pets",), **update: Any
) -> ImageRecord:
    return ImageRecord(
        created_at=CREATED,
        updated_at=CREATED,
        image_id=image_id,
        bucket="b",
        source_key=f"incoming/{image_id}.jpg",
        destination_key=f"albums/pets/{image_id}.jpg",
        status=Status.SORTED,
        reason="matched",
        sha256=sha,
        memberships=tuple(Membership(album=a, kind=CollectionKind.ALBUM, label="Cat", confidence=90.5) for a in albums),
    ).model_copy(update=update)


def raw(repo: Repository) -> dict[tuple[str, str], dict[str, Any]]:
    """Every item in the table, as DynamoDB holds it, by (PK, SK)."""
    items = repo.client.scan(TableName=TABLE)["Items"]
    return {(i["PK"]["S"], i["SK"]["S"]): i for i in items}


def cancelled(*reasons: str | None) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": r or "None"} for r in reasons],
        },
        "TransactWriteItems",
    )


def raising(exc: Exception) -> Any:
    def call(**kwargs: Any) -> Any:
        raise exc

    return call


# -- the items README's data model documents --------------------------------------------------------------------
def test_a_saved_record_writes_the_items_of_the_data_model(repo: Repository) -> None:
    repo.save(
        record("one", metadata=ImageMetadata(format="JPEG", width=4, height=3, mode="RGB", taken_at=TAKEN)),
        claim_hash=True,
    )
    items = raw(repo)
    when = "2024-07-03T07:30:00.000+00:00"  # the time taken, in UTC with milliseconds

    assert set(items) == {
        ("IMAGE#one", "IMAGE"),
        ("SHA#" + "a" * 64, "CLAIM"),
        ("ALBUM#pets", f"{when}#one"),
        ("ALBUMS", "ALBUM#pets"),
    }
    image = items["IMAGE#one", "IMAGE"]
    assert image["type"] == {"S": "image"}
    assert not [k for k in image if k.startswith("GSI")]  # no index entries: no write unit per index
    assert set(image) == {"PK", "SK", "type", "image_id", "status", "destination_key", "reason", "updated_at", "d"}
    packed = repository._unpack(image["d"]["B"])
    assert set(packed) == {"bucket", "source_key", "sha256", "metadata", "memberships", "created_at"}
    assert packed["memberships"][0]["album"] == "pets" and "embedding" not in packed
    assert "null" not in json.dumps(packed) and '"NULL"' not in json.dumps(image, default=str)  # unset: absent
    claim = items["SHA#" + "a" * 64, "CLAIM"]
    assert claim["image_id"] == {"S": "one"} and datetime.fromisoformat(claim["claimed_at"]["S"]).tzinfo
    member = items["ALBUM#pets", f"{when}#one"]
    assert {k: next(iter(v.values())) for k, v in member.items()} == {
        "PK": "ALBUM#pets",
        "SK": f"{when}#one",
        "type": "member",
        "album": "pets",
        "image_id": "one",
        "destination_key": "albums/pets/one.jpg",
        "label": "Cat",
        "confidence": "90.5",
        "taken_at": when,
    }
    album = items["ALBUMS", "ALBUM#pets"]
    assert {k: next(iter(v.values())) for k, v in album.items()} == {  # no counter: counts are counted
        "PK": "ALBUMS",
        "SK": "ALBUM#pets",
        "type": "album",
        "album": "pets",
        "kind": "album",
    }
    assert repository.write_units(image) == 1 and repository.item_size(image) < 1024


def test_a_record_reads_back_as_written(repo: Repository) -> None:
    labels = tuple(Label(name=f"label {i}", confidence=50 + i, parents=("Thing",)) for i in range(20))
    written = record("one", labels=labels, metadata=ImageMetadata(format="PNG", width=9, height=9, mode="RGBA"))
    repo.save(written, claim_hash=True)
    assert repo.get("one") == written
    assert [r.image_id for r in repo.scan_images()] == ["one"]


def test_an_image_without_a_hash_has_no_bytes_item(repo: Repository) -> None:
    repo.save(record("one", sha=None), claim_hash=True)
    assert not [k for k in raw(repo) if k[0].startswith("SHA#")]


def test_item_sizes_follow_dynamodbs_rules() -> None:
    item = {
        "ab": {"S": "héllo"},  # 2 + 6 bytes (UTF-8)
        "n": {"N": "-12.345"},  # 1 + (5 digits + 1) // 2 + 1 = 1 + 4
        "b": {"B": b"\x00" * 10},  # 1 + 10
        "t": {"BOOL": True},  # 1 + 1
        "ss": {"SS": ["x", "yz"]},  # 2 + 3
        "l": {"L": [{"S": "a"}]},  # 1 + 3 + 1 + 1
        "m": {"M": {"k": {"S": "v"}}},  # 1 + 3 + 1 + 1 + 1
    }
    assert repository.item_size(item) == 8 + 5 + 11 + 2 + 5 + 6 + 7
    assert repository.write_units({"PK": {"S": "x" * 1024}}) == 2
    assert repository.write_units({"PK": {"S": "x"}}) == 1
    with pytest.raises(ValueError, match="no size"):
        repository.item_size({"x": {"NS": ["1"]}})


def test_numbers_read_back_as_int_or_float_and_other_values_are_refused() -> None:
    item = repository._from_ddb({"n": {"N": "3"}, "x": {"N": "2.5"}})
    assert item == {"n": 3, "x": 2.5} and type(item["n"]) is int
    with pytest.raises(TypeError, match="set"):
        repository._decimal({1})
    assert repository._decimal(Decimal("7")) == 7 and type(repository._decimal(Decimal("7"))) is int


def test_times_are_stored_in_utc_with_milliseconds_and_naive_times_as_given() -> None:
    assert repository._iso(TAKEN) == "2024-07-03T07:30:00.000+00:00"
    assert repository._iso(datetime(2024, 7, 3, 9, 30)) == "2024-07-03T09:30:00"


# -- strong reads, every page -----------------------------------------------------------------------------------
def test_record_and_hash_reads_are_strongly_consistent(repo: Repository) -> None:
    calls: list[dict[str, Any]] = []
    real = repo.client._client

    def get_item(**kwargs: Any) -> Any:
        calls.append(kwargs)
        return real.get_item(**kwargs)

    spy = Repository(Client(real, get_item=get_item), TABLE)
    spy.get("one")
    spy.hash_owner("a" * 64)
    spy.ids_with_hash("a" * 64)
    repo.save(record("zero"), claim_hash=True)
    with pytest.raises(HashClaimedError):
        spy.save(record("one"), claim_hash=True)  # the claim's owner is read after its condition failed

    assert calls and all(c.get("ConsistentRead") is True for c in calls), calls


def one_item_per_page(repo: Repository) -> Repository:
    """The same table, read through a client that makes DynamoDB return one item per page."""
    real = repo.client._client
    return Repository(
        Client(
            real,
            query=lambda **kw: real.query(**{**kw, "Limit": 1}),
            scan=lambda **kw: real.scan(**{**kw, "Limit": 1}),
        ),
        TABLE,
    )


def test_listings_follow_every_page(repo: Repository) -> None:
    for i in range(3):
        repo.save(record(f"img{i}", sha=f"{i}" * 64, albums=(f"album{i}",)), claim_hash=True)
    paged = one_item_per_page(repo)

    assert sorted(a.album for a in paged.list_albums()) == ["album0", "album1", "album2"]
    assert sorted(r.image_id for r in paged.scan_images()) == ["img0", "img1", "img2"]
    repo.save(record("img3", sha="3" * 64, albums=("album0",)), claim_hash=True)
    repo.save(record("img4", sha="4" * 64, albums=("album0",)), claim_hash=True)
    assert paged.count_members("album0") == 3  # counted over every page
    assert {a.album: a.image_count for a in paged.list_albums()}["album0"] == 3


# -- the claim on the bytes -------------------------------------------------------------------------------------
def test_same_bytes_without_albums_are_refused_as_a_duplicate(repo: Repository) -> None:
    repo.save(record("one", albums=()), claim_hash=True)

    with pytest.raises(HashClaimedError) as claimed:
        repo.save(record("two", albums=()), claim_hash=True)

    assert claimed.value.owner == "one"
    assert repo.get("two") is None


def _claim(repo: Repository, owner: str, age: timedelta) -> None:
    repo.client.put_item(
        TableName=TABLE,
        Item={
            "PK": {"S": "SHA#" + "a" * 64},
            "SK": {"S": "CLAIM"},
            "image_id": {"S": owner},
            "claimed_at": {"S": (datetime.now(UTC) - age).isoformat()},
        },
    )


def test_bytes_claimed_moments_ago_by_an_image_not_recorded_yet_are_busy(repo: Repository) -> None:
    _claim(repo, "zero", timedelta(seconds=5))  # its Record is between the claim and the record

    with pytest.raises(StoreBusyError, match="has not recorded yet"):
        repo.save(record("one"), claim_hash=True)

    assert repo.get("one") is None and repo.hash_owner("a" * 64) == "zero"


def test_a_stale_claim_whose_owner_never_recorded_is_taken_over(repo: Repository) -> None:
    _claim(repo, "zero", repository.STALE_CLAIM + timedelta(seconds=1))  # its execution died in between

    saved, created = repo.save(record("one"), claim_hash=True)

    assert created and saved.status is Status.SORTED and repo.hash_owner("a" * 64) == "one"


def test_a_claim_by_the_same_image_is_its_own_replay(repo: Repository) -> None:
    _claim(repo, "one", timedelta(seconds=1))  # an earlier attempt claimed, then stopped before the record

    saved, created = repo.save(record("one"), claim_hash=True)

    assert created and repo.get("one") == saved


def test_a_claim_taken_over_meanwhile_is_busy(repo: Repository) -> None:
    _claim(repo, "zero", repository.STALE_CLAIM * 2)
    real = repo.client._client
    calls = {"n": 0}

    def update_item(**kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:  # the take-over: someone else took it first
            _claim(repo, "other", timedelta(0))
        return real.update_item(**kwargs)

    racing = Repository(Client(real, update_item=update_item), TABLE)
    with pytest.raises(StoreBusyError, match="changed meanwhile"):
        racing.save(record("one"), claim_hash=True)


def test_a_duplicate_a_rejection_or_a_failure_is_named_by_its_bytes(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    repo.save(record("two", status=Status.DUPLICATE, albums=()), claim_hash=False)
    repo.save(record("three", status=Status.REJECTED, albums=()), claim_hash=False)

    assert repo.ids_with_hash("a" * 64) == ["one", "three", "two"]  # the owner first
    assert [r.image_id for r in repo.records_with_hash("a" * 64)] == ["one", "three", "two"]
    assert repo.ids_with_hash("b" * 64) == []


def test_a_replayed_save_repairs_the_album_members(repo: Repository) -> None:
    first, _ = repo.save(record("one", albums=("pets", "animals")), claim_hash=True)
    for key in [k for k in raw(repo) if k[0].startswith("ALBUM#")]:
        repo.client.delete_item(TableName=TABLE, Key={"PK": {"S": key[0]}, "SK": {"S": key[1]}})

    again, created = repo.save(record("one", albums=("pets", "animals")), claim_hash=True)

    assert not created and again == first
    assert {a.album: a.image_count for a in repo.list_albums()} == {"pets": 1, "animals": 1}


def test_album_items_are_read_once_per_process(repo: Repository) -> None:
    real = repo.client._client
    reads: list[Any] = []

    def batch_get_item(**kwargs: Any) -> Any:
        reads.append(kwargs)
        return real.batch_get_item(**kwargs)

    spy = Repository(Client(real, batch_get_item=batch_get_item), TABLE)
    spy.save(record("one", sha="1" * 64), claim_hash=True)
    spy.save(record("two", sha="2" * 64), claim_hash=True)
    assert len(reads) == 1
    Repository(Client(real, batch_get_item=batch_get_item), TABLE).save(record("three", sha="3" * 64), claim_hash=True)
    assert len(reads) == 2 and len([k for k in raw(repo) if k[0] == "ALBUMS"]) == 1


def test_other_save_errors_propagate(repo: Repository) -> None:
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "PutItem")
    failing = Repository(Client(repo.client._client, put_item=raising(denied)), TABLE)

    with pytest.raises(ClientError, match="AccessDenied"):
        failing.save(record("one", sha=None, albums=()), claim_hash=True)
    claim_denied = Repository(Client(repo.client._client, update_item=raising(denied)), TABLE)
    with pytest.raises(ClientError, match="AccessDenied"):
        claim_denied.save(record("one"), claim_hash=True)


def test_a_failure_replaces_reason_error_key_and_time(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    before = datetime.now(UTC)

    failed = repo.mark_failed(
        record("one", status=Status.FAILED, reason="Boom", error="it broke", destination_key="failed/one.jpg")
    )

    assert (failed.status, failed.reason, failed.error, failed.destination_key) == (
        Status.FAILED,
        "Boom",
        "it broke",
        "failed/one.jpg",
    )
    assert failed.updated_at.tzinfo is not None and failed.updated_at >= before
    assert repo.get("one") == failed


def test_a_failure_without_a_record_joins_no_album_and_claims_no_hash(repo: Repository) -> None:
    stored = repo.mark_failed(record("new", status=Status.FAILED, reason="Boom"))

    assert stored.memberships == () and repo.get("new") == stored
    assert repo.list_albums() == [] and repo.hash_owner("a" * 64) is None  # the bytes can still be sorted later


def test_a_failure_after_a_claim_without_a_record_releases_the_claim(repo: Repository) -> None:
    """Record claimed the bytes, then never wrote its record (throttled past its retries): Quarantine's failed
    record must not keep the claim, or every later upload of those bytes would be a duplicate of a failure."""
    _claim(repo, "new", timedelta(seconds=1))

    stored = repo.mark_failed(record("new", status=Status.FAILED, reason="StoreBusyError: x", albums=()))

    assert stored.status is Status.FAILED and repo.hash_owner("a" * 64) is None
    assert repo.ids_with_hash("a" * 64) == ["new"]  # still found by its bytes
    saved, created = repo.save(record("later"), claim_hash=True)
    assert created and saved.status is Status.SORTED and repo.hash_owner("a" * 64) == "later"


def test_a_failure_racing_another_writer_is_retried(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    real = repo.client._client
    attempts: list[int] = []

    def transact_write_items(**kwargs: Any) -> Any:
        attempts.append(1)
        if len(attempts) == 1:  # another delivery marks it failed just before our transaction
            repo.mark_failed(record("one", status=Status.FAILED, reason="Other"))
        return real.transact_write_items(**kwargs)

    failed = Repository(Client(real, transact_write_items=transact_write_items), TABLE).mark_failed(
        record("one", status=Status.FAILED, reason="Boom")
    )

    assert failed.reason == "Other" and len(attempts) == 1  # the second look finds it failed already


def test_a_failure_that_keeps_losing_gives_up_after_five_attempts(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    attempts: list[int] = []

    def transact_write_items(**kwargs: Any) -> Any:
        attempts.append(1)
        raise cancelled("ConditionalCheckFailed")

    losing = Repository(Client(repo.client._client, transact_write_items=transact_write_items), TABLE)
    with pytest.raises(PhotosortError, match="kept changing"):
        losing.mark_failed(record("one", status=Status.FAILED, reason="Boom"))

    assert len(attempts) == 5


def test_other_mark_failed_errors_propagate_at_once(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    attempts: list[int] = []

    def transact_write_items(**kwargs: Any) -> Any:
        attempts.append(1)
        raise ClientError({"Error": {"Code": "ValidationException", "Message": "no"}}, "TransactWriteItems")

    failing = Repository(Client(repo.client._client, transact_write_items=transact_write_items), TABLE)
    with pytest.raises(ClientError, match="ValidationException"):
        failing.mark_failed(record("one", status=Status.FAILED, reason="Boom"))

    assert len(attempts) == 1


# -- reads for the albums API -------------------------------------------------------------------------------------
def test_an_albums_summary_has_its_count_and_an_unknown_album_none(repo: Repository) -> None:
    repo.save(record("one", albums=("pets",)), claim_hash=True)
    repo.save(record("two", sha="b" * 64, albums=("pets",)), claim_hash=True)

    summary = repo.get_album("pets")

    assert summary is not None and (summary.album, summary.kind, summary.image_count) == ("pets", "album", 2)
    assert repo.get_album("cars") is None


def labelled(repo: Repository, image_id: str, *labels: tuple[str, float]) -> None:
    found = tuple(Label(name=name, confidence=confidence) for name, confidence in labels)
    repo.save(record(image_id, sha=None, albums=(), labels=found), claim_hash=False)


def scan_limits(repo: Repository, per_page: int | None = None) -> tuple[Repository, list[int]]:
    """The same table through a client that records each Scan's Limit (and, given ``per_page``, lowers it)."""
    real = repo.client._client
    limits: list[int] = []

    def scan(**kwargs: Any) -> Any:
        limits.append(kwargs.get("Limit", 0))
        return real.scan(**{**kwargs, "Limit": per_page or kwargs.get("Limit", 0)})

    return Repository(Client(real, scan=scan), TABLE), limits


def test_a_label_search_is_case_insensitive_best_confidence_first(repo: Repository) -> None:
    labelled(repo, "a", ("Cat", 80))
    labelled(repo, "b", ("cat", 95))
    labelled(repo, "c", ("Dog", 99))
    labelled(repo, "d", ("CAT", 95), ("Dog", 10))
    labelled(repo, "e", ("Cat", 60), ("cat", 97))  # its best Cat counts
    labelled(repo, "f", ("Catfish", 99))  # a whole name, not a prefix

    page = repo.search_label("cAt")

    assert [r.image_id for r in page.items] == ["e", "b", "d", "a"]  # ties by image id
    assert page.next_token is None


def test_a_label_search_reads_at_most_max_read_items_a_call_and_resumes_where_it_stopped(repo: Repository) -> None:
    for i in range(5):
        labelled(repo, f"img{i}", ("Cat", 90))
    spy, limits = scan_limits(repo)

    seen: list[str] = []
    token: str | None = None
    for _ in range(5):
        page = spy.search_label("cat", max_read=2, next_token=token)
        seen += [r.image_id for r in page.items]
        token = page.next_token
        if token is None:
            break

    assert sorted(seen) == [f"img{i}" for i in range(5)]  # every image once
    assert set(limits) == {2}
    spy.search_label("cat")
    assert limits[-1] == 250  # the default max_read of 1000, 250 items a Scan


def test_a_label_search_stops_once_a_page_is_full_or_max_read_is_reached(repo: Repository) -> None:
    for i in range(4):
        labelled(repo, f"img{i}", ("Cat", 90))
    labelled(repo, "dog", ("Dog", 90))
    one_a_scan, scans = scan_limits(repo, per_page=1)

    full = one_a_scan.search_label("cat", limit=2)
    before = len(scans)
    capped = one_a_scan.search_label("cat", max_read=3)

    assert len(full.items) == 2 and full.next_token is not None
    assert len(scans) - before == 3  # one item a Scan: it stops once 3 are read
    assert len(capped.items) in (2, 3) and capped.next_token is not None  # one of the 3 may be the dog
    rest = one_a_scan.search_label("cat", next_token=full.next_token)
    assert sorted(r.image_id for r in full.items + rest.items) == [f"img{i}" for i in range(4)]


def test_a_label_search_refuses_another_listings_token(repo: Repository) -> None:
    for i in range(3):
        repo.save(record(f"img{i}", sha=f"{i}" * 64), claim_hash=True)
    album_token = repo.list_album("pets", limit=1).next_token
    assert album_token is not None

    with pytest.raises(InvalidPageTokenError, match="another listing"):
        repo.search_label("cat", next_token=album_token)


# -- page tokens --------------------------------------------------------------------------------------------------
def album_token(key: Any) -> str:
    return repository._encode_token(key)


def in_pets(pk: str, _sk: str) -> bool:
    return pk == "ALBUM#pets"


@pytest.mark.parametrize("length", range(1, 9))
def test_page_tokens_are_compact_unpadded_and_read_back(length: int) -> None:
    key = {"PK": {"S": "ALBUM#pets"}, "SK": {"S": "x" * length}}

    token = repository._encode_token(key)

    assert "=" not in token
    assert repository._decode_token(token, in_pets) == key
    padded = token + "=" * (-len(token) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded)) == key and " " not in base64.urlsafe_b64decode(padded).decode()


@pytest.mark.parametrize(
    "token",
    [
        "!!!",  # not base64
        base64.urlsafe_b64encode(b"not json").decode(),
        album_token(["PK", "SK"]),  # not an object
        album_token({"PK": {"N": "1"}, "SK": {"S": "x"}}),  # not a string key
        album_token({"PK": {"S": "ALBUM#pets", "N": "1"}, "SK": {"S": "x"}}),
        album_token({"PK": {"S": 1}, "SK": {"S": "x"}}),
        album_token({"PK": "ALBUM#pets", "SK": {"S": "x"}}),
    ],
)
def test_a_malformed_page_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidPageTokenError, match="malformed"):
        repository._decode_token(token, in_pets)


@pytest.mark.parametrize(
    "key",
    [
        {"PK": {"S": "ALBUM#cars"}, "SK": {"S": "x"}},  # another album
        {"PK": {"S": "ALBUM#pets"}},  # no sort key
        {"SK": {"S": "x"}},  # no partition key
        {},
    ],
)
def test_a_page_token_of_another_listing_is_refused(key: dict[str, Any]) -> None:
    with pytest.raises(InvalidPageTokenError, match="another listing"):
        repository._decode_token(album_token(key), in_pets)
    with pytest.raises(InvalidPageTokenError, match="another listing"):
        repository._decode_token(album_token(key), lambda pk, _sk: pk.startswith("IMAGE#"))


# -- the record's encoding, sizes and the bytes item's edge cases ----------------------------------------------
PINNED_RECORD_SIZE = 263  # bytes: a change of encoding shows here (and in tests/cost/test_request_counts.py)


def test_a_record_encodes_to_a_pinned_size() -> None:
    """Compact JSON, zlib at level 9 with the preset dictionary: the size a fixed record takes is pinned."""
    labels = tuple(
        Label(name=n, confidence=c, parents=("Animal",), categories=("Animals and Pets",))
        for n, c in (("Cat", 91.25), ("Dog", 40.5), ("Tabby", 22.0))
    )
    item = repository.encode_record(record("one", labels=labels))
    assert repository.item_size(item) == PINNED_RECORD_SIZE
    assert repository.decode_record(item) == record("one", labels=labels)


def test_the_embedding_is_not_stored_in_the_record() -> None:
    from photosort.models import Embedding

    with_embedding = record("one", embedding=Embedding(model_version="v", dim=2, data="AAE="))
    item = repository.encode_record(with_embedding)
    assert "embedding" not in repository._unpack(item["d"]["B"])
    assert repository.decode_record(item).embedding is None


def test_a_record_written_without_the_packed_attribute_reads_back() -> None:
    """An item of the previous design (every field an attribute, no ``d``) still decodes."""
    plain = repository._item(record("one").model_dump(mode="json", exclude_none=True))
    assert repository.decode_record(plain) == record("one")


def test_number_and_null_sizes() -> None:
    assert repository.item_size({"n": {"N": "12"}}) == 1 + 2  # (2 + 1) // 2 + 1
    assert repository.item_size({"n": {"N": "123"}}) == 1 + 3
    assert repository.item_size({"z": {"NULL": True}}) == 2
    assert repository.write_units({"PK": {"S": "x" * 1023}}) == 2  # 1025 bytes: a second KB started
    assert repository.write_units({"PK": {"S": "x" * 1022}}) == 1  # exactly 1 KB


def test_a_claim_that_vanished_after_its_condition_failed_is_busy(repo: Repository) -> None:
    real = repo.client._client
    failed = ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": "x"}}, "UpdateItem")
    racing = Repository(Client(real, update_item=raising(failed)), TABLE)
    with pytest.raises(StoreBusyError, match="changed meanwhile"):
        racing.save(record("one"), claim_hash=True)


def test_a_claim_of_the_previous_design_without_a_time_and_without_a_record_is_taken_over(repo: Repository) -> None:
    repo.client.put_item(
        TableName=TABLE, Item={"PK": {"S": "SHA#" + "a" * 64}, "SK": {"S": "CLAIM"}, "image_id": {"S": "zero"}}
    )
    _saved, created = repo.save(record("one"), claim_hash=True)
    assert created and repo.hash_owner("a" * 64) == "one"


def test_a_known_album_is_never_written_again(repo: Repository) -> None:
    repo.save(record("one", sha="1" * 64), claim_hash=True)
    real = repo.client._client
    puts: list[str] = []

    def put_item(**kwargs: Any) -> Any:
        puts.append(kwargs["Item"]["PK"]["S"])
        return real.put_item(**kwargs)

    fresh = Repository(Client(real, put_item=put_item), TABLE)  # a new container: its album cache is empty
    fresh.save(record("two", sha="2" * 64), claim_hash=True)
    assert "ALBUMS" not in puts and puts == ["IMAGE#two", "ALBUM#pets"]


def test_a_release_of_a_claim_someone_else_holds_changes_nothing(repo: Repository) -> None:
    _claim(repo, "zero", timedelta(seconds=1))
    stored = repo.mark_failed(record("new", status=Status.FAILED, reason="Boom", albums=()))
    assert stored.status is Status.FAILED and repo.hash_owner("a" * 64) == "zero"
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "UpdateItem")
    with pytest.raises(ClientError, match="AccessDenied"):
        Repository(Client(repo.client._client, update_item=raising(denied)), TABLE)._release("a" * 64, "zero")


def test_failing_a_duplicate_leaves_the_owners_claim(repo: Repository) -> None:
    repo.save(record("one"), claim_hash=True)
    repo.save(record("two", status=Status.DUPLICATE, albums=()), claim_hash=False)

    repo.mark_failed(record("two", status=Status.FAILED, reason="Boom: x", destination_key="failed/two.jpg"))

    assert repo.hash_owner("a" * 64) == "one" and repo.ids_with_hash("a" * 64) == ["one", "two"]
