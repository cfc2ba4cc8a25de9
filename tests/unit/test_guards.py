"""The safety guards README's Reliability section promises, each pinned by a test that fails without it.

Every test here was checked by removing or weakening its guard and watching the test fail (the guard each
test kills is named in its docstring). They use moto S3 and DynamoDB, plus thin client wrappers that play a
broken copy or a concurrent writer at an exact moment, so no outcome depends on a lucky race.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from photosort import pipeline, routing, storage
from photosort.errors import DestinationConflictError, SourceChangedError
from photosort.models import (
    Classification,
    CollectionKind,
    FailureInfo,
    ImageMetadata,
    ImageRecord,
    Inspection,
    Label,
    Membership,
    ObjectRef,
    Status,
)
from photosort.repository import Repository
from photosort.settings import Settings
from tests.support.buckets import BUCKET, put
from tests.support.tables import TABLE, table_definition

DEST = "albums/pets/2026/a-12345678.jpg"
PHOTO = b"\xff\xd8 the photo the event announced \xff\xd9"


def objects(s3: Any) -> dict[str, bytes]:
    """Every object in the bucket with its bytes."""
    listed = s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    return {o["Key"]: s3.get_object(Bucket=BUCKET, Key=o["Key"])["Body"].read() for o in listed}


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Wrapped:
    """A boto3 client that delegates everything to the real (moto) client except the methods it overrides."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if callable(attr):

            def record(*args: Any, **kwargs: Any) -> Any:
                self.calls.append(name)
                return attr(*args, **kwargs)

            return record
        return attr


# -- A destination that holds different bytes is refused, and nothing is deleted ---------------------------
@pytest.mark.parametrize(
    "metadata",
    [{}, {storage.SHA_META: "f" * 64}],
    ids=["a-user's-own-file", "another-photo-photosort-moved"],
)
@pytest.mark.parametrize("source_state", ["present", "gone"])
def test_a_destination_with_different_bytes_is_refused_and_nothing_is_deleted(
    s3: Any, metadata: dict[str, str], source_state: str
) -> None:
    """Guard: the copy's ``IfNoneMatch: *`` refuses a destination that exists, and the move names the conflict.

    With the source gone, only that check names the conflict: without it the move reports a vanished
    source instead, and the conflict (someone else's photo at the key) is lost from the record.
    """
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    s3.put_object(Bucket=BUCKET, Key=DEST, Body=b"someone else's photo", Metadata=metadata)
    if source_state == "gone":
        s3.delete_object(Bucket=BUCKET, Key="incoming/a.jpg")
    before = objects(s3)
    spy = Wrapped(s3)

    with pytest.raises(DestinationConflictError, match="different object"):
        storage.move(spy, ref, DEST, sha256=sha)

    assert objects(s3) == before  # the other photo is untouched, and the original (if any) is still there
    assert not {"put_object", "delete_object"} & set(spy.calls)  # the conditional copy is refused by S3 itself


# -- A copy that does not verify leaves the original in place ----------------------------------------------
class BrokenCopy(Wrapped):
    """CopyObject that stores something other than a faithful, checksummed copy of the source.

    It replaces what the real copy wrote, keeping the metadata photosort asked for (so only the length or
    the checksum can tell), and answers like S3 does for what it stored.
    """

    def __init__(self, client: Any, fault: str) -> None:
        super().__init__(client)
        self.fault = fault

    def copy_object(self, **kwargs: Any) -> dict[str, Any]:
        self._client.copy_object(**kwargs)
        source = self._client.get_object(Bucket=kwargs["CopySource"]["Bucket"], Key=kwargs["CopySource"]["Key"])
        data = source["Body"].read()
        put: dict[str, Any] = {
            "Bucket": kwargs["Bucket"],
            "Key": kwargs["Key"],
            "Metadata": kwargs["Metadata"],
            "ContentType": kwargs.get("ContentType", "binary/octet-stream"),
        }
        if self.fault == "wrong-length":  # truncated: the right checksum algorithm, fewer bytes
            stored = self._client.put_object(Body=data[:-3], ChecksumAlgorithm="SHA256", **put)
        elif self.fault == "wrong-checksum":  # same length, one byte flipped
            flipped = data[:5] + bytes([data[5] ^ 0xFF]) + data[6:]
            stored = self._client.put_object(Body=flipped, ChecksumAlgorithm="SHA256", **put)
        elif self.fault == "missing-checksum":  # the right bytes, but no checksum to prove it
            stored = self._client.put_object(Body=data, **put)
        elif self.fault == "composite-checksum":  # a checksum of part checksums ("<base64>-N") is not the bytes'
            stored = self._client.put_object(Body=data, ChecksumAlgorithm="SHA256", **put)
            stored["ChecksumSHA256"] = f"{b64_sha256(hashlib.sha256(data).digest())}-2"
            self.composite = stored["ChecksumSHA256"]
        else:
            raise AssertionError(self.fault)
        result = {k: v for k, v in stored.items() if k in ("ETag", "ChecksumSHA256")}
        return {"CopyObjectResult": result}

    def head_object(self, **kwargs: Any) -> dict[str, Any]:
        found: dict[str, Any] = self._client.head_object(**kwargs)
        if self.fault == "composite-checksum" and kwargs["Key"] == DEST and "ChecksumSHA256" in found:
            found["ChecksumSHA256"] = self.composite
        return found


@pytest.mark.parametrize("fault", ["wrong-length", "wrong-checksum", "missing-checksum", "composite-checksum"])
def test_a_copy_that_does_not_verify_leaves_the_original(s3: Any, fault: str) -> None:
    """Guard: the verification between copy and delete (length, SHA-256 metadata, S3's SHA-256 checksum).

    wrong-length kills dropping the length check, wrong-checksum dropping the checksum comparison,
    missing-checksum accepting a copy without a checksum, and all four dropping the verification.
    """
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)

    with pytest.raises(DestinationConflictError, match="could not be verified"):
        storage.move(BrokenCopy(s3, fault), ref, DEST, sha256=sha)

    assert objects(s3)["incoming/a.jpg"] == PHOTO


def test_a_faithful_copy_verifies(s3: Any) -> None:
    """The other side of the verification: a good copy carries S3's SHA-256 of the bytes and is accepted."""
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)

    result = storage.move(s3, ref, DEST, sha256=sha)

    assert result.moved
    assert objects(s3) == {DEST: PHOTO}
    head = s3.head_object(Bucket=BUCKET, Key=DEST, ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64_sha256(PHOTO)


def test_a_replay_never_trusts_an_unverified_copy_left_by_an_earlier_attempt(s3: Any) -> None:
    """Guard: verification also on the replay path, where the copy is skipped because the key holds our hash."""
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    s3.put_object(Bucket=BUCKET, Key=DEST, Body=PHOTO[:-3], Metadata={storage.SHA_META: sha})  # a torn copy

    with pytest.raises(DestinationConflictError, match="different object"):
        storage.move(s3, ref, DEST, sha256=sha)

    assert objects(s3)["incoming/a.jpg"] == PHOTO


# -- A source overwritten between the event and the move is detected -----------------------------------------
def inspected(s3: Any, ref: ObjectRef) -> Inspection:
    return pipeline.inspect(s3, ref, datetime.now(UTC), Settings.model_validate({}))


def test_a_source_overwritten_after_inspect_is_not_moved(s3: Any, photos: dict[str, bytes]) -> None:
    """Guard: the ETag comparison in ``storage.move`` (the event's ETag against the object's current one)."""
    photo = photos["coffee"]
    ref, _ = put(s3, "incoming/a.jpg", photo)
    inspection = inspected(s3, ref)
    newer = photos["astronaut"]
    s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=newer)  # the user uploads again under the same name

    with pytest.raises(SourceChangedError):
        storage.move(s3, inspection.object, DEST, sha256=inspection.sha256 or "")

    assert objects(s3) == {"incoming/a.jpg": newer}  # the newer upload is untouched and nothing was copied


def test_a_replay_after_a_crash_never_deletes_a_newer_upload(s3: Any) -> None:
    """Guard: the ETag comparison again. A first attempt copied the photo and crashed before the delete;
    the user then uploaded a new photo under the same name. The replay finds our copy verified at the
    destination, but the key it would delete now holds someone's new photo: without the guard it is deleted.
    """
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    crashing = Wrapped(s3)
    crashing.delete_object = lambda **kw: (_ for _ in ()).throw(RuntimeError("crash before delete"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        storage.move(crashing, ref, DEST, sha256=sha)
    s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=b"a newer photo under the same name")

    with pytest.raises(SourceChangedError):
        storage.move(s3, ref, DEST, sha256=sha)

    assert objects(s3) == {DEST: PHOTO, "incoming/a.jpg": b"a newer photo under the same name"}


class OverwrittenDuringMove(Wrapped):
    """The source is overwritten right after the move checked its ETag and before the copy, and CopyObject
    honours ``CopySourceIfMatch`` as S3 does (412 PreconditionFailed). moto 5.2.5 ignores that header, so
    this wrapper applies it; the rest is moto."""

    def __init__(self, client: Any, newer: bytes) -> None:
        super().__init__(client)
        self.newer = newer

    def copy_object(self, **kwargs: Any) -> dict[str, Any]:
        source = kwargs["CopySource"]
        self._client.put_object(Bucket=source["Bucket"], Key=source["Key"], Body=self.newer)
        current = self._client.head_object(Bucket=source["Bucket"], Key=source["Key"])["ETag"].strip('"')
        expected = kwargs.get("CopySourceIfMatch")
        if expected is not None and expected.strip('"') != current:
            raise ClientError(
                {"Error": {"Code": "PreconditionFailed", "Message": "At least one of the pre-conditions failed"}},
                "CopyObject",
            )
        result: dict[str, Any] = self._client.copy_object(**kwargs)
        return result


def test_a_source_overwritten_during_the_move_is_not_copied_or_deleted(s3: Any) -> None:
    """Guard: ``CopySourceIfMatch`` on the copy (the window between the ETag check and the copy).

    Without it the newer bytes are copied under the old photo's hash; verification then refuses them, but
    the result is a stray object at the destination and a conflict error instead of SourceChangedError.
    """
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    newer = b"a newer photo, uploaded mid-move"

    with pytest.raises(SourceChangedError):
        storage.move(OverwrittenDuringMove(s3, newer), ref, DEST, sha256=sha)

    assert objects(s3) == {"incoming/a.jpg": newer}


def test_reading_a_source_overwritten_since_the_event_is_detected(s3: Any) -> None:
    """Guard: ``IfMatch`` on the read (the bytes classified are the bytes the event announced)."""
    ref, _ = put(s3, "incoming/a.jpg", PHOTO)
    s3.put_object(Bucket=BUCKET, Key="incoming/a.jpg", Body=b"newer")

    with pytest.raises(SourceChangedError, match="changed since the event"):
        storage.read(s3, ref)


# -- Verification of a source uploaded in parts ---------------------------------------------------------------
def multipart_upload(s3: Any, key: str, parts: list[bytes]) -> ObjectRef:
    """Upload ``parts`` as S3 multipart with SHA-256 part checksums: S3 then reports a composite checksum."""
    upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="SHA256", ContentType="image/jpeg")
    done = []
    for number, body in enumerate(parts, start=1):
        part = s3.upload_part(
            Bucket=BUCKET,
            Key=key,
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
            ChecksumAlgorithm="SHA256",
        )
        done.append({"PartNumber": number, "ETag": part["ETag"], "ChecksumSHA256": part["ChecksumSHA256"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": done})
    head = s3.head_object(Bucket=BUCKET, Key=key)
    return ObjectRef(bucket=BUCKET, key=key, size=head["ContentLength"], etag=head["ETag"].strip('"'))


def test_a_multipart_source_is_verified_by_a_full_object_checksum_of_the_copy(s3: Any) -> None:
    """What the move relies on for a source uploaded in parts.

    Its ETag is ``<md5 of part md5s>-N`` and its SHA-256 checksum is composite (a hash of the part hashes,
    ``<base64>-N`` on AWS): neither is a hash of the bytes. The move never compares them with anything. It
    compares the ETag only as an opaque string with the event's, and it asks CopyObject for a new SHA-256
    (``ChecksumAlgorithm=SHA256``): a single-request copy gets a full-object checksum of the bytes, which
    must equal the SHA-256 Inspect computed while reading them. Without that parameter S3 (and moto) copy
    the source's composite checksum, and the copy never verifies.
    """
    parts = [b"\xff\xd8" + b"p" * (5 * 1024 * 1024 - 2), b"q" * 1000 + b"\xff\xd9"]  # S3's minimum part size
    data = b"".join(parts)
    ref = multipart_upload(s3, "incoming/big.jpg", parts)
    source = s3.head_object(Bucket=BUCKET, Key="incoming/big.jpg", ChecksumMode="ENABLED")
    assert ref.etag is not None and ref.etag.endswith("-2")
    assert source["ChecksumSHA256"].split("-")[0] != b64_sha256(data)  # composite: not the bytes' hash
    sha = hashlib.sha256(storage.read(s3, ref)).hexdigest()

    result = storage.move(s3, ref, DEST, sha256=sha)

    assert result.moved
    assert objects(s3) == {DEST: data}
    copy = s3.head_object(Bucket=BUCKET, Key=DEST, ChecksumMode="ENABLED")
    assert copy["ChecksumSHA256"] == b64_sha256(data)


# -- Confidence exactly at the threshold matches ----------------------------------------------------------------
def test_a_confidence_exactly_at_the_threshold_matches() -> None:
    """Guard: ``>=`` in ``routing.match``, for the rules file's default and for a rule's own threshold."""
    rules = routing.validate_rules(
        {
            "min_confidence": 70,
            "rules": [
                {"album": "people", "labels": ["Person"], "min_confidence": 80.5},
                {"album": "pets", "labels": ["Cat"]},
            ],
        }
    )

    at = routing.match(rules, [Label(name="Person", confidence=80.5), Label(name="Cat", confidence=70.0)])
    below = routing.match(rules, [Label(name="Person", confidence=80.49), Label(name="Cat", confidence=69.99)])

    assert [(m.album, m.confidence) for m in at] == [("people", 80.5), ("pets", 70.0)]
    assert below == ()


# -- Two concurrent saves of the same image give one record and one count ---------------------------------------
@pytest.fixture
def ddb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(TableName=TABLE, **table_definition())
        yield client


class Interleaving:
    """Orders two writers deterministically: each reads before either writes, then ``first`` makes all its writes
    (and anything ``between`` does runs after them), then ``second`` writes. Every call otherwise goes to moto."""

    WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")

    def __init__(self, client: Any) -> None:
        self._client = client
        self.both_read = threading.Barrier(2, timeout=10)
        self.first_done = threading.Event()
        self._between: Callable[[], None] = lambda: None

    def client_for(self, role: str, between: Callable[[], None] | None = None) -> Any:
        gate = self
        if between is not None:
            self._between = between
        waited = {"done": False}

        class Gated(Wrapped):
            def __getattr__(self, name: str) -> Any:
                attr = getattr(self._client, name)
                if name not in Interleaving.WRITES:
                    return attr

                def write(**kwargs: Any) -> Any:
                    if not waited["done"]:
                        waited["done"] = True
                        gate.both_read.wait()
                        if role != "first":
                            assert gate.first_done.wait(timeout=10)
                    return attr(**kwargs)

                return write

        return Gated(self._client)

    def run(self, *calls: Callable[[], Any]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        errors: list[BaseException] = []

        def target(i: int) -> None:
            try:
                if i == 0:
                    try:
                        results[i] = calls[i]()
                    finally:
                        try:
                            self._between()
                        finally:
                            self.first_done.set()
                else:
                    results[i] = calls[i]()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread
                errors.append(exc)
                self.both_read.abort()  # never leave the other writer waiting for this one
                self.first_done.set()

        threads = [threading.Thread(target=target, args=(i,)) for i in range(len(calls))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        if errors:
            raise errors[0]
        return results


def pets_record(image_id: str = "img-1", sha: str | None = "a" * 64) -> ImageRecord:
    now = datetime.now(UTC)
    return ImageRecord(
        created_at=now,
        updated_at=now,
        image_id=image_id,
        bucket=BUCKET,
        source_key="incoming/a.jpg",
        destination_key=DEST,
        status=Status.SORTED,
        reason="matched rule 'pets'",
        sha256=sha,
        memberships=(Membership(album="pets", kind=CollectionKind.ALBUM, label="Cat", confidence=90.0),),
    )


def album_counts(repo: Repository) -> dict[str, int]:
    return {a.album: a.image_count for a in repo.list_albums()}


@pytest.mark.parametrize("claim_hash", [True, False])
def test_two_concurrent_saves_of_one_image_give_one_record_and_one_count(ddb: Any, claim_hash: bool) -> None:
    """Guard: the condition on the image record's put (the save's commit point).

    Both writers read "no record" before either writes. Without a hash claim (``claim_hash=False``) the image
    put's condition is all that stops the second writer from recording (and counting) again.
    """
    gate = Interleaving(ddb)
    first = Repository(gate.client_for("first"), TABLE)
    second = Repository(gate.client_for("second"), TABLE)

    def save(repo: Repository) -> tuple[ImageRecord, bool]:
        assert repo.get("img-1") is None  # both read before either writes
        return repo.save(pets_record(), claim_hash=claim_hash)

    (saved_1, created_1), (saved_2, created_2) = gate.run(lambda: save(first), lambda: save(second))

    repo = Repository(ddb, TABLE)
    assert (created_1, created_2) == (True, False)
    assert saved_2 == saved_1 == repo.get("img-1")
    assert [r.image_id for r in repo.scan_images()] == ["img-1"]
    assert album_counts(repo) == {"pets": 1}
    assert [e.image_id for e in repo.list_album("pets").items] == ["img-1"]


def classified(ref: ObjectRef, sha: str) -> tuple[Inspection, Classification]:
    inspection = Inspection(
        object=ref,
        received_at=datetime(2026, 1, 2, tzinfo=UTC),
        usable=True,
        sha256=sha,
        metadata=ImageMetadata(format="JPEG", width=640, height=480, mode="RGB"),
    )
    labels = (Label(name="Cat", confidence=91.0, parents=("Animal",)),)
    return inspection, Classification(backend="local", model_version="test", labels=labels)


def test_two_concurrent_deliveries_of_one_event_record_once(s3: Any, ddb: Any) -> None:
    """The same event delivered twice at once, through ``pipeline.record``: one record, one count, and
    exactly one delivery reports that it created it."""
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    inspection, classification = classified(ref, sha)
    rules = routing.load_rules("family")
    policy = Settings.model_validate({}).duplicate_policy
    gate = Interleaving(ddb)
    repos = [Repository(gate.client_for(role), TABLE) for role in ("first", "second")]

    decisions = gate.run(*(lambda r=r: pipeline.record(r, rules, policy, inspection, classification) for r in repos))

    repo = Repository(ddb, TABLE)
    assert [d.created for d in decisions] == [True, False]
    assert decisions[0].destination_key == decisions[1].destination_key
    assert len(list(repo.scan_images())) == 1
    assert album_counts(repo) == {"pets": 1, "animals": 1}


def test_a_late_duplicate_delivery_cannot_undo_a_quarantine(s3: Any, ddb: Any) -> None:
    """Guard: the condition on the image put, through the pipeline. Two deliveries of one event read "no
    record"; the first records the photo, then its move fails and Quarantine marks it failed (out of its
    albums, hash claim released). Only then does the second write: without the condition it would put the
    sorted record back and count the photo again, while the object sits in failed/.
    """
    ref, sha = put(s3, "incoming/a.jpg", PHOTO)
    inspection, classification = classified(ref, sha)
    rules = routing.load_rules("family")
    policy = Settings.model_validate({}).duplicate_policy
    gate = Interleaving(ddb)
    quarantine_repo = Repository(ddb, TABLE)

    def quarantine() -> None:
        pipeline.quarantine(s3, quarantine_repo, ref, FailureInfo(error="Boom", cause="the move failed"))

    first = Repository(gate.client_for("first", between=quarantine), TABLE)
    second = Repository(gate.client_for("second"), TABLE)

    gate.run(
        lambda: pipeline.record(first, rules, policy, inspection, classification),
        lambda: pipeline.record(second, rules, policy, inspection, classification),
    )

    repo = Repository(ddb, TABLE)
    records = list(repo.scan_images())
    assert [r.status for r in records] == [Status.FAILED]
    assert album_counts(repo) == {"pets": 0, "animals": 0}
    assert [k for k in objects(s3) if k.startswith("failed/")] == [records[0].destination_key]
    assert repo.hash_owner(sha) is None  # the late delivery's claim was released: a failed photo owns no bytes
    assert repo.ids_with_hash(sha) == [records[0].image_id]  # still found by its hash (the sweeper's lookup)
