"""The label payload is capped so that no workflow state nears the 256 KB limit (States.DataLimitExceeded cannot
be caught, not even by States.ALL). Measured on the largest state the ASL builds, with every field at its cap."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from photosort import models
from photosort.models import (
    Classification,
    CollectionKind,
    Decision,
    ImageMetadata,
    Inspection,
    Label,
    Membership,
    MoveResult,
    ObjectRef,
    Status,
)
from photosort.settings import Settings
from photosort_local.sam import load_sam_template as read_template

REPO = Path(__file__).resolve().parents[2]
STATE_LIMIT = 256 * 1024
WIDE = '\U0001f408"'  # 4 UTF-8 bytes, and a quote that JSON escapes: the most bytes per character of a name


def _name(i: int) -> str:
    return f"{i}" + WIDE * 100


def _uncapped(n: int) -> Classification:
    labels = tuple(
        Label(
            name=_name(i) + "\x01" * 50,
            confidence=99.5,
            parents=tuple(_name(i + j) for j in range(30)),
            categories=tuple(_name(i + j) for j in range(30)),
        )
        for i in range(n)
    )
    return Classification(labels=labels, backend="rekognition", model_version="x" * 1000)


def _largest_state(classification: Classification) -> bytes:
    """The state after Sort on the longest path: the S3 event, inspection, classification, decision and move."""
    event = json.loads((REPO / "events" / "s3_object_created.json").read_text(encoding="utf-8"))
    key = "incoming/" + "%E2%82%AC" * 338  # a 1,023-byte key, URL-encoded in the event as S3 sends it
    event["detail"]["object"]["key"] = key
    plain = "incoming/" + "\u20ac" * 338
    ref = ObjectRef(bucket="b" * 63, key=plain, size=52428800, etag="e" * 34, version_id="v" * 32, sequencer="s" * 18)
    meta = ImageMetadata(
        format="JPEG", width=10000, height=10000, mode="RGB", taken_at=datetime.now(UTC),
        camera_make="m" * 128, camera_model="m" * 128,
    )  # fmt: skip
    inspection = Inspection(object=ref, received_at=datetime.now(UTC), usable=True, sha256="0" * 64, metadata=meta)
    memberships = tuple(
        Membership(album="a" * 64, kind=CollectionKind.ALBUM, label=c.name, confidence=90.0)
        for c in classification.labels[:20]
    )
    decision = Decision(
        image_id="i" * 32, status=Status.SORTED, destination_key="albums/" + "\u20ac" * 339, reason="r" * 500,
        memberships=memberships, top_labels=tuple(c.name for c in classification.labels[:3]),
    )  # fmt: skip
    move = MoveResult(source_key=plain, destination_key=decision.destination_key, moved=True)
    state = {
        **event,
        "inspection": inspection.model_dump(mode="json"),
        "classification": classification.model_dump(mode="json"),
        "decision": decision.model_dump(mode="json"),
        "move": move.model_dump(mode="json"),
    }
    return json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def test_capped_labels_respect_every_cap() -> None:
    capped = _uncapped(1000).capped()
    assert len(capped.labels) == models.MAX_LABELS
    for label in capped.labels:
        for name in (label.name, *label.parents, *label.categories):
            assert len(name.encode("utf-8")) <= models.MAX_LABEL_NAME_BYTES and name.isprintable()
        assert len(label.parents) <= models.MAX_LABEL_PARENTS and len(label.categories) <= models.MAX_LABEL_CATEGORIES


def test_largest_state_at_the_cap_is_well_under_the_limit() -> None:
    size = len(_largest_state(_uncapped(1000).capped()))
    assert size < STATE_LIMIT / 2, f"{size} bytes"


def test_without_the_cap_the_state_would_not_fit() -> None:
    assert len(_largest_state(_uncapped(1000))) > STATE_LIMIT


def test_short_labels_are_kept_as_they_are() -> None:
    c = Classification(
        labels=(Label(name="Cat", confidence=90, parents=("Animal",)),), backend="local", model_version="1"
    )
    assert c.capped() == c


def test_max_labels_setting_and_template_agree_with_the_cap() -> None:
    template = read_template(REPO / "template.yaml")
    assert int(template["Parameters"]["MaxLabels"]["MaxValue"]) == models.MAX_LABELS
    assert Settings.model_fields["max_labels"].metadata  # bounded
    Settings.model_validate({"PHOTOSORT_MAX_LABELS": str(models.MAX_LABELS)})


def test_classify_caps_what_a_backend_returns() -> None:
    from photosort import pipeline

    class Verbose:
        name = "verbose"

        def classify(self, image: object) -> Classification:
            return _uncapped(200)

    meta = ImageMetadata(format="PNG", width=1, height=1, mode="RGB")
    ref = ObjectRef(bucket="b", key="incoming/x.png", size=1)
    inspection = Inspection(object=ref, received_at=datetime.now(UTC), usable=True, metadata=meta)
    out = pipeline.classify(None, Verbose(), inspection)  # type: ignore[arg-type]
    assert len(out.labels) == models.MAX_LABELS
