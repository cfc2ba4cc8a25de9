"""The Record step's decision, as pure functions (no AWS, no moto): where an image goes and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from photosort import pipeline, routing
from photosort.models import (
    Classification,
    FailureInfo,
    ImageMetadata,
    ImageRecord,
    Inspection,
    Label,
    ObjectRef,
    Rejection,
    RejectionReason,
    Status,
)
from photosort.settings import DuplicatePolicy

NOW = datetime(2026, 5, 17, 12, 0, tzinfo=UTC)
TAKEN = datetime(2024, 7, 14, 9, 30, tzinfo=UTC)
SHA = "ab12cd34" + "0" * 56
RULES = routing.validate_rules(
    {
        "min_confidence": 60,
        "rules": [
            {"album": "pets", "labels": ["Animal"], "path": "{year}/{month}/{stem}-{sha8}{ext}"},
            {"album": "food", "labels": ["Food"]},
        ],
    }
)


def inspection(
    key: str = "incoming/trip/cat.jpg", *, usable: bool = True, rejection: Rejection | None = None
) -> Inspection:
    return Inspection(
        object=ObjectRef(bucket="photos", key=key, size=10, etag="e1", sequencer="01"),
        received_at=NOW,
        usable=usable,
        sha256=SHA,
        metadata=ImageMetadata(format="JPEG", width=4, height=3, mode="RGB", taken_at=TAKEN) if usable else None,
        rejection=rejection,
    )


def labels(*pairs: tuple[str, float, tuple[str, ...]]) -> Classification:
    return Classification(
        labels=tuple(Label(name=n, confidence=c, parents=p) for n, c, p in pairs), backend="local", model_version="m1"
    )


CAT = labels(("tabby", 80.0, ("Cat", "Animal")), ("Food", 70.0, ()))


def test_a_matching_label_sorts_into_the_first_rules_album_with_every_membership() -> None:
    rec = pipeline.decide_record(RULES, inspection(), CAT, now=NOW)

    assert rec.status is Status.SORTED
    assert rec.destination_key == "albums/pets/2024/07/cat-ab12cd34.jpg"  # the photo's date, not the upload's
    assert [(m.album, m.label) for m in rec.memberships] == [("pets", "tabby"), ("food", "Food")]
    assert rec.reason == "matched rule 'pets' with label 'tabby' (80.0%)"
    assert (rec.labels, rec.backend, rec.model_version) == (CAT.labels, "local", "m1")
    assert rec.image_id == pipeline.image_id(inspection().object) and rec.created_at == rec.updated_at == NOW


def test_no_rule_above_its_threshold_goes_to_unsorted_naming_the_best_label() -> None:
    rec = pipeline.decide_record(RULES, inspection(), labels(("tabby", 59.9, ("Animal",))), now=NOW)

    assert rec.status is Status.UNSORTED and rec.memberships == ()
    assert rec.destination_key == "unsorted/2024/cat-ab12cd34.jpg"
    assert rec.reason == "no rule matched: best label 'tabby' (59.9%)"


def test_no_labels_at_all_is_unsorted() -> None:
    rec = pipeline.decide_record(RULES, inspection(), labels(), now=NOW)

    assert rec.status is Status.UNSORTED and rec.reason == "no labels returned"


def test_an_unusable_image_is_rejected_with_its_reason_under_the_mirrored_folder() -> None:
    bad = inspection(usable=False, rejection=Rejection(reason=RejectionReason.NOT_AN_IMAGE, detail="no signature"))

    rec = pipeline.decide_record(RULES, bad, None, now=NOW)

    assert rec.status is Status.REJECTED and rec.memberships == () and rec.labels == ()
    assert rec.reason == "NotAnImage: no signature"
    assert rec.destination_key == "rejected/trip/cat-ab12cd34.jpg"


def test_an_image_the_backend_refused_is_rejected_with_the_backends_message() -> None:
    refused = FailureInfo(Error="ImageUnusableError", Cause='{"errorMessage": "UnsupportedFormat: TIFF"}')

    rec = pipeline.decide_record(RULES, inspection(), None, refused, now=NOW)

    assert rec.status is Status.REJECTED and rec.reason == "BackendRejected: UnsupportedFormat: TIFF"
    assert rec.destination_key.startswith("rejected/trip/")


def sorted_record() -> ImageRecord:
    return pipeline.decide_record(RULES, inspection("incoming/again/cat.jpg"), CAT, now=NOW)


def test_a_duplicate_set_aside_goes_under_duplicates_in_no_album() -> None:
    dup = pipeline.duplicate_record(sorted_record(), "owner-1", DuplicatePolicy.SET_ASIDE)

    assert dup.status is Status.DUPLICATE and dup.duplicate_of == "owner-1" and dup.memberships == ()
    assert dup.destination_key == "duplicates/again/cat-ab12cd34.jpg"
    assert dup.reason == "same bytes as image owner-1; policy set-aside"


def test_a_duplicate_with_policy_sort_goes_where_the_rules_send_it_but_counts_in_no_album() -> None:
    original = sorted_record()

    dup = pipeline.duplicate_record(original, "owner-1", DuplicatePolicy.SORT)

    assert dup.status is Status.DUPLICATE and dup.duplicate_of == "owner-1"
    assert dup.destination_key == original.destination_key == "albums/pets/2024/07/cat-ab12cd34.jpg"
    assert dup.memberships == ()  # the bytes are counted once, under their owner
    assert dup.reason == "same bytes as image owner-1; policy sort"
    assert dup.labels == original.labels  # still searchable by what it shows


@pytest.mark.parametrize("policy", list(DuplicatePolicy))
def test_the_decision_is_pure(policy: DuplicatePolicy) -> None:
    first = pipeline.duplicate_record(sorted_record(), "o", policy)

    assert pipeline.duplicate_record(sorted_record(), "o", policy) == first
