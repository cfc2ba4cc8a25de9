"""The pipeline steps' contract: what Inspect reports for each kind of object, the record Record decides (its reason
text, duplicates and near-duplicates), Classify's preconditions and Quarantine's cause shortening.

moto S3 for Inspect; the record functions are pure.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from io import BytesIO
from typing import Any

import pytest
from PIL import Image

from photosort import neardup, pipeline, routing, storage
from photosort.models import (
    MAX_LABELS,
    Classification,
    Face,
    FailureInfo,
    ImageMetadata,
    Inspection,
    Label,
    ObjectRef,
    Rejection,
    RejectionReason,
    Status,
)
from photosort.settings import DuplicatePolicy, NearDuplicatePolicy, Settings
from tests.support.buckets import BUCKET, put

RECEIVED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW = datetime(2026, 5, 1, 12, 5, tzinfo=UTC)


def png(size: tuple[int, int] = (30, 20)) -> bytes:
    out = BytesIO()
    Image.new("RGB", size, (9, 99, 199)).save(out, format="PNG")
    return out.getvalue()


def settings(**values: object) -> Settings:
    return Settings.model_validate({f"PHOTOSORT_{k.upper()}": str(v) for k, v in values.items()})


# -- Inspect ------------------------------------------------------------------------------------------------------
def test_inspect_describes_a_usable_photo_found_under_its_event_key(s3: Any) -> None:
    data = png()
    ref, sha = put(s3, "incoming/my trip/a b.png", data)
    event_ref = ref.model_copy(update={"key": storage.encode_event_key(ref.key), "size": 1})  # as the event names it

    result = pipeline.inspect(s3, event_ref, RECEIVED, settings())

    assert result.usable and not result.gone and result.rejection is None
    assert result.object.key == "incoming/my trip/a b.png" and result.object.size == len(data)  # the resolved object
    assert result.received_at == RECEIVED and result.sha256 == sha
    assert result.metadata is not None
    assert (result.metadata.format, result.metadata.width, result.metadata.height) == ("PNG", 30, 20)


def test_inspect_of_a_vanished_object_says_gone_and_keeps_the_event_ref(s3: Any) -> None:
    ref = ObjectRef(bucket=BUCKET, key="incoming/never.jpg", size=5, etag="abc")

    result = pipeline.inspect(s3, ref, RECEIVED, settings())

    assert result == Inspection(object=ref, received_at=RECEIVED, usable=False, gone=True)


def test_inspect_rejects_an_object_over_the_byte_limit_without_decoding_it_but_hashes_it(s3: Any) -> None:
    data = b"\x89PNG not decoded at all" + b"\x00" * 100
    ref, sha = put(s3, "incoming/big.png", data)

    result = pipeline.inspect(s3, ref, RECEIVED, settings(max_image_bytes=len(data) - 1))

    assert not result.usable and not result.gone and result.metadata is None
    assert result.object.model_copy(update={"headers": None}) == ref and result.received_at == RECEIVED
    assert result.object.headers is not None and result.object.headers.content_type == "image/jpeg"
    assert result.sha256 == sha  # a rejected photo still gets its hash (its aside key and duplicates use it)
    assert result.rejection == Rejection(
        reason=RejectionReason.TOO_LARGE, detail=f"{len(data)} bytes exceeds the limit of {len(data) - 1} bytes"
    )


def test_an_object_exactly_at_the_byte_limit_is_inspected(s3: Any) -> None:
    data = png()
    ref, _ = put(s3, "incoming/edge.png", data)
    assert pipeline.inspect(s3, ref, RECEIVED, settings(max_image_bytes=len(data))).usable


def test_inspect_rejects_undecodable_bytes_with_the_named_reason(s3: Any) -> None:
    data = b"%PDF-1.7 a document, not a photo"
    ref, sha = put(s3, "incoming/doc.jpg", data)

    result = pipeline.inspect(s3, ref, RECEIVED, settings())

    assert not result.usable and not result.gone and result.metadata is None
    assert result.object.model_copy(update={"headers": None}) == ref and result.received_at == RECEIVED
    assert (
        result.object.headers is not None
        and result.object.headers.content_type == "image/jpeg"
        and result.sha256 == sha
    )
    assert result.rejection == Rejection(reason=RejectionReason.UNSUPPORTED_FORMAT, detail="application/pdf")


def test_inspect_applies_the_configured_pixel_limit(s3: Any) -> None:
    ref, _ = put(s3, "incoming/a.png", png((30, 20)))

    result = pipeline.inspect(s3, ref, RECEIVED, settings(max_image_pixels=599))

    assert result.rejection is not None and result.rejection.reason is RejectionReason.DECOMPRESSION_BOMB
    assert pipeline.inspect(s3, ref, RECEIVED, settings(max_image_pixels=600)).usable


def test_inspect_cuts_a_long_rejection_detail_to_500_characters(s3: Any) -> None:
    ref, _ = put(s3, "incoming/x.bin", b"\x00\x00\x00\x18ftyp" + b"Z" * 4 + b"\x00" * 100)
    long_brand = "ISO media ('ZZZZ' brand)"
    result = pipeline.inspect(s3, ref, RECEIVED, settings())
    assert result.rejection is not None and result.rejection.detail == long_brand  # short details are kept whole

    from photosort.errors import ImageUnusableError

    def boom(data: bytes, max_pixels: int) -> None:
        raise ImageUnusableError(RejectionReason.CORRUPT_IMAGE, "y" * 900)

    original = pipeline.imaging.inspect_image
    pipeline.imaging.inspect_image = boom  # type: ignore[assignment]
    try:
        cut = pipeline.inspect(s3, ref, RECEIVED, settings())
    finally:
        pipeline.imaging.inspect_image = original
    assert cut.rejection == Rejection(reason=RejectionReason.CORRUPT_IMAGE, detail="y" * 500)


# -- Classify -----------------------------------------------------------------------------------------------------
def test_classify_refuses_an_inspection_without_metadata() -> None:
    unusable = Inspection(object=ObjectRef(bucket=BUCKET, key="k", size=1), received_at=RECEIVED, usable=False)

    class Never:
        name = "never"

        def classify(self, image: Any) -> Classification:
            raise AssertionError("not called")

    with pytest.raises(
        ValueError, match=r"^Classify only runs on usable images \(inspect_and_classify checks; so does the backfill\)$"
    ):
        pipeline.classify(None, Never(), unusable)


# -- Inspect and classify, in one invocation ---------------------------------------------------------------------
class Reads:
    """A backend that reads the image (as the local one does) and says what it read."""

    name = "reads"

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.seen: list[tuple[str, bytes, ImageMetadata]] = []

    def classify(self, image: Any) -> Classification:
        self.seen.append((image.ref.key, image.read(), image.metadata))
        if self.error is not None:
            raise self.error
        labels = tuple(Label(name=f"L{i}", confidence=99 - i) for i in range(60))  # more than the cap
        return Classification(labels=labels, backend=self.name, model_version="v1")


def _gets(s3: Any) -> list[str]:
    seen: list[str] = []
    s3.meta.events.register("before-call.s3.*", lambda model, **_: seen.append(model.name))
    return seen


def test_inspect_and_classify_reads_the_bytes_once_and_labels_what_it_inspected(s3: Any) -> None:
    data = png()
    ref, sha = put(s3, "incoming/one.png", data)
    backend = Reads()
    calls = _gets(s3)

    analysis = pipeline.inspect_and_classify(s3, backend, ref, RECEIVED, settings())

    assert calls == ["GetObject"]  # one read for both
    assert analysis.inspection == pipeline.inspect(s3, ref, RECEIVED, settings())
    assert analysis.inspection.usable and analysis.inspection.sha256 == sha
    assert backend.seen == [("incoming/one.png", data, analysis.inspection.metadata)]
    assert analysis.classification is not None and analysis.backend_rejection is None
    assert len(analysis.classification.labels) == MAX_LABELS  # capped, as Classify always did


class Decodes(Reads):
    """A backend that decodes the pixels itself, at a size it names (as the local one does)."""

    decode_size = (16, 16)

    def classify(self, image: Any) -> Classification:
        self.decoded = image.decoded
        return super().classify(image)


def test_inspect_hands_its_decoded_frame_to_a_backend_that_names_its_size(s3: Any) -> None:
    from photosort import imaging

    data = png()
    ref, _ = put(s3, "incoming/one.png", data)
    decodes, sends = Decodes(), Decodes()
    sends.decode_size = None  # type: ignore[assignment]

    pipeline.inspect_and_classify(s3, decodes, ref, RECEIVED, settings(max_image_pixels=5000))
    pipeline.inspect_and_classify(s3, sends, ref, RECEIVED, settings())

    decoded = decodes.decoded
    assert decoded is not None and (decoded.draft_size, decoded.max_pixels) == ((16, 16), 5000)
    expected = imaging.load_rgb(data, max_pixels=5000, draft_size=(16, 16))
    assert imaging.rgb_from(decoded.image, (16, 16)).tobytes() == expected.tobytes()
    assert sends.decoded is None  # a backend that names no size decodes (or sends) the bytes itself
    rejected_ref, _ = put(s3, "incoming/broken.png", b"not an image at all")
    decodes.decoded = "unchanged"
    pipeline.inspect_and_classify(s3, decodes, rejected_ref, RECEIVED, settings())
    assert decodes.decoded == "unchanged"  # an unusable upload reaches no backend


def test_an_unusable_or_gone_upload_is_not_classified(s3: Any) -> None:
    ref, _ = put(s3, "incoming/broken.png", b"not an image at all")
    backend = Reads()

    broken = pipeline.inspect_and_classify(s3, backend, ref, RECEIVED, settings())
    gone = pipeline.inspect_and_classify(
        s3, backend, ref.model_copy(update={"key": "incoming/x.png"}), RECEIVED, settings()
    )
    big = pipeline.inspect_and_classify(
        s3, backend, put(s3, "incoming/big.png", png())[0], RECEIVED, settings(max_image_bytes=10)
    )

    assert not broken.inspection.usable and broken.inspection.rejection is not None
    assert gone.inspection.gone and big.inspection.rejection is not None
    assert big.inspection.rejection.reason is RejectionReason.TOO_LARGE
    for analysis in (broken, gone, big):
        assert analysis.classification is None and analysis.backend_rejection is None
    assert backend.seen == []


def test_a_backend_refusal_comes_back_as_a_backend_rejection(s3: Any) -> None:
    from photosort.errors import ImageUnusableError

    ref, _ = put(s3, "incoming/odd.png", png())
    refused = ImageUnusableError(RejectionReason.UNSUPPORTED_FORMAT, "the backend cannot take it")

    analysis = pipeline.inspect_and_classify(s3, Reads(refused), ref, RECEIVED, settings())

    assert analysis.inspection.usable and analysis.classification is None
    assert analysis.backend_rejection is not None and analysis.backend_rejection.error == "ImageUnusableError"
    assert json.loads(analysis.backend_rejection.cause) == {
        "errorMessage": str(refused),
        "errorType": "ImageUnusableError",
    }
    decided = pipeline.decide_record(RULES, analysis.inspection, None, analysis.backend_rejection, now=NOW)
    assert decided.status is Status.REJECTED and decided.reason == f"BackendRejected: {refused}"


def test_a_network_error_reaching_the_backend_is_throttling(s3: Any) -> None:
    from botocore.exceptions import EndpointConnectionError

    from photosort.errors import BackendThrottledError

    ref, _ = put(s3, "incoming/net.png", png())
    with pytest.raises(BackendThrottledError, match=r"^reads: network error reaching the service"):
        pipeline.inspect_and_classify(
            s3, Reads(EndpointConnectionError(endpoint_url="https://x")), ref, RECEIVED, settings()
        )


# -- Record: the decision and its reason --------------------------------------------------------------------------
META = ImageMetadata(format="JPEG", width=8, height=6, mode="RGB", taken_at=datetime(2024, 3, 9, 10, 0))
REF = ObjectRef(bucket=BUCKET, key="incoming/trip/a.jpg", size=10, etag="e1")
SHA = hashlib.sha256(b"a").hexdigest()
RULES = routing.validate_rules({"rules": [{"album": "pets", "labels": ["Cat"], "min_confidence": 80}]})


def usable() -> Inspection:
    return Inspection(object=REF, received_at=RECEIVED, usable=True, sha256=SHA, metadata=META)


FACE = Face(left=0.1, top=0.1, width=0.2, height=0.2, confidence=99.0)


def classified(*labels: tuple[str, float], embedding: str | None = None) -> Classification:
    return Classification(
        labels=tuple(Label(name=n, confidence=c) for n, c in labels),
        backend="test",
        model_version="v9",
        faces=(FACE, FACE),
        embedding=embedding,
    )


def test_a_sorted_record_names_the_rule_and_the_label_and_carries_what_the_backend_said() -> None:
    record = pipeline.decide_record(RULES, usable(), classified(("Cat", 91.25), ("Animal", 95.0)), now=NOW)

    assert record.status is Status.SORTED
    assert record.reason == "matched rule 'pets' with label 'Cat' (91.2%)"
    assert record.destination_key.startswith("albums/pets/")
    assert record.image_id == pipeline.image_id(REF) and record.bucket == BUCKET and record.source_key == REF.key
    assert record.sha256 == SHA and record.metadata == META
    assert [m.album for m in record.memberships] == ["pets"]
    assert (record.backend, record.model_version, record.face_count, record.faces) == ("test", "v9", 2, (FACE, FACE))
    assert [lab.name for lab in record.labels] == ["Cat", "Animal"]
    assert record.created_at == record.updated_at == NOW


def test_an_unsorted_record_names_the_best_label() -> None:
    record = pipeline.decide_record(RULES, usable(), classified(("Dog", 70.04), ("Cat", 60.0)), now=NOW)

    assert record.status is Status.UNSORTED and record.memberships == ()
    assert record.reason == "no rule matched: best label 'Dog' (70.0%)"
    assert record.destination_key.startswith("unsorted/")


def test_a_photo_without_labels_is_unsorted_saying_so() -> None:
    record = pipeline.decide_record(RULES, usable(), classified(), now=NOW)
    assert (record.status, record.reason) == (Status.UNSORTED, "no labels returned")


def test_a_rejection_without_a_recorded_cause_says_not_usable() -> None:
    inspection = Inspection(object=REF, received_at=RECEIVED, usable=False, sha256=SHA)

    record = pipeline.decide_record(RULES, inspection, None, now=NOW)

    assert record.status is Status.REJECTED and record.reason == "not a usable image"
    assert record.destination_key == routing.aside_key("rejected/", REF.key, SHA)
    assert record.labels == () and record.backend is None and record.face_count is None and record.faces == ()


def test_a_backend_rejection_names_the_backends_message_cut_short() -> None:
    cause = json.dumps({"errorMessage": "m" * 400, "errorType": "ImageUnusableError"})
    record = pipeline.decide_record(
        RULES, usable(), None, FailureInfo(error="ImageUnusableError", cause=cause), now=NOW
    )
    assert record.status is Status.REJECTED and record.reason == "BackendRejected: " + "m" * 300


@pytest.mark.parametrize(
    ("cause", "short"),
    [
        ('{"errorMessage": "the model said no", "errorType": "X"}', "the model said no"),
        ('{"errorType": "X"}', '{"errorType": "X"}'),  # JSON without a message: the cause itself
        ("not json at all", "not json at all"),
        ('["a", "list"]', '["a", "list"]'),  # JSON that is not an object
        ("z" * 400, "z" * 300),
        (json.dumps({"errorType": "X", "pad": "p" * 400}), json.dumps({"errorType": "X", "pad": "p" * 400})[:300]),
    ],
)
def test_a_failure_cause_is_shortened_to_its_message(cause: str, short: str) -> None:
    assert pipeline._short_cause(cause) == short


def test_a_duplicate_set_aside_drops_any_near_duplicate_mark() -> None:
    near = pipeline.decide_record(RULES, usable(), classified(("Cat", 90.0)), now=NOW).model_copy(
        update={"near_duplicate_of": "other", "near_duplicate_similarity": 0.99}
    )

    dup = pipeline.duplicate_record(near, "owner1", DuplicatePolicy.SET_ASIDE)

    assert dup.status is Status.DUPLICATE and dup.duplicate_of == "owner1"
    assert dup.reason == "same bytes as image owner1; policy set-aside"
    assert dup.near_duplicate_of is None and dup.near_duplicate_similarity is None and dup.memberships == ()
    assert dup.destination_key == routing.aside_key("duplicates/", REF.key, SHA)


def test_a_near_duplicate_kept_in_place_keeps_its_albums_and_says_of_what() -> None:
    decided = pipeline.decide_record(RULES, usable(), classified(("Cat", 90.0)), now=NOW)
    match = neardup.NearMatch(image_id="first", similarity=0.98765)

    near = pipeline.near_duplicate_record(decided, match, NearDuplicatePolicy.RECORD)

    assert near.status is Status.SORTED and near.memberships == decided.memberships
    assert near.destination_key == decided.destination_key
    assert near.reason == f"{decided.reason}; near-duplicate of image first (cosine 0.988)"
    assert (near.near_duplicate_of, near.near_duplicate_similarity) == ("first", 0.98765)


def test_a_near_duplicate_set_aside_goes_under_duplicates_in_no_album() -> None:
    decided = pipeline.decide_record(RULES, usable(), classified(("Cat", 90.0)), now=NOW)

    near = pipeline.near_duplicate_record(
        decided, neardup.NearMatch(image_id="first", similarity=0.951), NearDuplicatePolicy.SET_ASIDE
    )

    assert near.status is Status.DUPLICATE and near.memberships == ()
    assert near.reason == "near-duplicate of image first (cosine 0.951); policy set-aside"
    assert near.destination_key == routing.aside_key("duplicates/", REF.key, SHA)
    assert near.near_duplicate_of == "first" and near.duplicate_of is None


def test_the_image_id_covers_every_part_of_the_event_identity() -> None:
    base = pipeline.image_id(REF)
    assert len(base) == 32 and base == pipeline.image_id(REF.model_copy())
    for change in ({"bucket": "b2"}, {"key": "k2"}, {"version_id": "v"}, {"sequencer": "s"}, {"etag": "e2"}):
        assert pipeline.image_id(REF.model_copy(update=change)) != base
    assert pipeline.image_id(REF.model_copy(update={"size": 999})) == base  # the size is not identity


# -- Record against DynamoDB: near-duplicates ---------------------------------------------------------------------
def _embedding(*values: float) -> Any:
    import numpy as np

    from photosort import embeddings

    return embeddings.encode(np.array(values, dtype=np.float32), "m1")


def _upload(key: str, sha_of: bytes) -> Inspection:
    ref = ObjectRef(bucket=BUCKET, key=key, size=10, etag=key)
    return Inspection(
        object=ref, received_at=RECEIVED, usable=True, sha256=hashlib.sha256(sha_of).hexdigest(), metadata=META
    )


def _cat(embedding: Any) -> Classification:
    return Classification(
        labels=(Label(name="Cat", confidence=90.0),), backend="test", model_version="m1", embedding=embedding
    )


NEAR_RECORD = neardup.NearDuplicateSettings(policy=NearDuplicatePolicy.RECORD, threshold=0.9)


def test_a_photo_close_to_an_earlier_one_is_recorded_as_its_near_duplicate(repo: Any) -> None:
    first = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0, 0, 0)), None,
        NEAR_RECORD,
    )  # fmt: skip
    second = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/b.jpg", b"b"), _cat(_embedding(1, 0.05, 0, 0)),
        None, NEAR_RECORD,
    )  # fmt: skip

    assert first.created and first.near_duplicate_of is None and first.status is Status.SORTED
    assert second.created and second.status is Status.SORTED and second.near_duplicate_of == first.image_id
    assert "near-duplicate of image " + first.image_id in second.reason
    stored = repo.get(second.image_id)
    assert stored is not None and stored.near_duplicate_of == first.image_id
    assert stored.near_duplicate_similarity is not None and stored.near_duplicate_similarity >= 0.99


def test_a_photo_unlike_the_earlier_ones_is_indexed_as_a_first_photo(repo: Any) -> None:
    pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0, 0, 0)), None,
        NEAR_RECORD,
    )  # fmt: skip
    other = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/b.jpg", b"b"), _cat(_embedding(0, 1, 0, 0)), None,
        NEAR_RECORD,
    )  # fmt: skip
    third = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/c.jpg", b"c"), _cat(_embedding(0, 1, 0.01, 0)),
        None, NEAR_RECORD,
    )  # fmt: skip

    assert other.near_duplicate_of is None
    assert third.near_duplicate_of == other.image_id  # ``other`` was indexed when it was recorded


def test_without_near_duplicate_settings_nothing_is_searched_or_indexed(repo: Any) -> None:
    pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0)))
    again = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/b.jpg", b"b"), _cat(_embedding(1, 0)), None,
        NEAR_RECORD,
    )  # fmt: skip
    assert again.near_duplicate_of is None  # the first photo was never indexed


def test_a_rejected_photo_is_not_searched_for_near_duplicates(repo: Any) -> None:
    pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0)), None,
        NEAR_RECORD,
    )  # fmt: skip
    unusable = _upload("incoming/b.jpg", b"b").model_copy(update={"usable": False, "metadata": None})

    rejected = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, unusable, _cat(_embedding(1, 0)), None, NEAR_RECORD
    )

    assert rejected.status is Status.REJECTED and rejected.near_duplicate_of is None


def test_a_near_duplicate_is_tagged_with_the_photo_it_nearly_duplicates(s3: Any) -> None:
    from photosort.models import Decision

    ref, sha = put(s3, "incoming/b.jpg", b"photo")
    inspection = Inspection(object=ref, received_at=RECEIVED, usable=True, sha256=sha, metadata=META)
    decision = Decision(
        image_id="i2", status=Status.SORTED, destination_key="unsorted/b.jpg", reason="r", near_duplicate_of="i1"
    )

    pipeline.sort(s3, inspection, decision)

    tags = s3.get_object_tagging(Bucket=BUCKET, Key="unsorted/b.jpg")["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "photosort-status": "sorted",
        "photosort-near-duplicate-of": "i1",
    }


# -- Quarantine -----------------------------------------------------------------------------------------------------
def test_a_quarantined_object_is_tagged_failed_with_its_reason_and_timestamped_in_utc(s3: Any, repo: Any) -> None:
    ref, _ = put(s3, "incoming/a.jpg", b"photo bytes")
    failure = FailureInfo(error="BackendError", cause='{"errorMessage": "the model said no"}')

    decision = pipeline.quarantine(s3, repo, ref, failure)

    tags = s3.get_object_tagging(Bucket=BUCKET, Key=decision.destination_key)["TagSet"]
    assert {t["Key"]: t["Value"] for t in tags} == {
        "photosort-status": "failed",
        "photosort-reason": "BackendError: the model said no",
    }
    stored = repo.get(decision.image_id)
    assert stored is not None and stored.created_at.utcoffset() is not None
    assert stored.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


# -- more of Record ---------------------------------------------------------------------------------------------------
def test_image_ids_are_stable_across_releases() -> None:
    # Records are keyed by these ids: a change would make a replay after a deploy look like a new upload.
    full = ObjectRef(bucket="photos", key="incoming/a.jpg", size=1, version_id="v1", sequencer="seq1", etag="e1")
    bare = ObjectRef(bucket="photos", key="incoming/a.jpg", size=1)
    assert pipeline.image_id(full) == "bae3df2ce868bc12d9e56744263ac7a5"
    assert pipeline.image_id(bare) == "366a941104e76f8ccb3c3e9896d8189b"


def test_the_destination_template_gets_the_album_the_label_and_the_format() -> None:
    rules = routing.validate_rules(
        {
            "rules": [
                {"album": "pets", "labels": ["Cat"], "min_confidence": 50, "path": "{album}/{label}/{stem}-{sha8}{ext}"}
            ]
        }
    )
    inspection = usable().model_copy(update={"object": REF.model_copy(update={"key": "incoming/IMG_0001"})})

    record = pipeline.decide_record(rules, inspection, classified(("Cat", 90.0)), now=NOW)

    assert record.destination_key == f"albums/pets/pets/cat/IMG_0001-{SHA[:8]}.jpg"


def test_a_backend_rejection_is_recorded_with_its_cause(repo: Any) -> None:
    failure = FailureInfo(error="ImageUnusableError", cause='{"errorMessage": "InvalidImageFormat from the model"}')

    decision = pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, usable(), None, failure)

    assert (
        decision.status is Status.REJECTED and decision.reason == "BackendRejected: InvalidImageFormat from the model"
    )
    stored = repo.get(decision.image_id)
    assert stored is not None and stored.created_at.utcoffset() is not None
    assert stored.created_at.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_the_configured_near_duplicate_threshold_is_used(repo: Any) -> None:
    strict = neardup.NearDuplicateSettings(policy=NearDuplicatePolicy.RECORD, threshold=0.99)
    pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0, 0, 0)), None,
        strict,
    )  # fmt: skip
    similar = pipeline.record(
        repo, RULES, DuplicatePolicy.SET_ASIDE, _upload("incoming/b.jpg", b"b"), _cat(_embedding(1, 0.4, 0, 0)), None,
        strict,
    )  # fmt: skip
    assert similar.near_duplicate_of is None  # cosine about 0.93: near at the default threshold, not at 0.99


def test_a_near_duplicate_set_aside_by_policy_is_recorded_under_duplicates(repo: Any) -> None:
    aside = neardup.NearDuplicateSettings(policy=NearDuplicatePolicy.SET_ASIDE, threshold=0.9)
    first = pipeline.record(
        repo, RULES, DuplicatePolicy.SORT, _upload("incoming/a.jpg", b"a"), _cat(_embedding(1, 0, 0, 0)), None, aside
    )
    second = pipeline.record(
        repo, RULES, DuplicatePolicy.SORT, _upload("incoming/b.jpg", b"b"), _cat(_embedding(1, 0.01, 0, 0)), None, aside
    )
    assert second.status is Status.DUPLICATE and second.near_duplicate_of == first.image_id
    assert second.destination_key.startswith("duplicates/") and second.memberships == ()


def test_another_event_for_the_same_object_follows_the_owner_and_creates_nothing(repo: Any) -> None:
    first = pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, usable(), classified(("Cat", 90.0)))
    again = usable().model_copy(update={"object": REF.model_copy(update={"sequencer": "later", "etag": "e2"})})

    second = pipeline.record(repo, RULES, DuplicatePolicy.SET_ASIDE, again, classified(("Cat", 90.0)))

    assert first.created and not second.created
    assert second.image_id == first.image_id and second.destination_key == first.destination_key


def test_an_unsorted_photo_has_no_album_and_the_placeholder_label() -> None:
    rules = routing.validate_rules(
        {
            "rules": [{"album": "pets", "labels": ["Cat"], "min_confidence": 80}],
            "unsorted_path": "x{album}x{label}x/{stem}-{sha8}{ext}",
        }
    )
    record = pipeline.decide_record(rules, usable(), classified(("Dog", 50.0)), now=NOW)
    assert record.destination_key == f"unsorted/xxlabelx/a-{SHA[:8]}.jpg"  # an empty label slugs to "label"
