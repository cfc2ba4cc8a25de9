"""Faces in the domain: box maths of the detector, Person/Face labels, face-count rules, and the record."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from PIL import Image

from photosort import faces, pipeline, routing
from photosort.errors import ConfigurationError
from photosort.models import Classification, Face, ImageMetadata, Inspection, Label, ObjectRef

NOW = datetime(2026, 5, 17, 12, 0, tzinfo=UTC)


def face(confidence: float = 99.0) -> Face:
    return Face(left=0.1, top=0.2, width=0.3, height=0.4, confidence=confidence)


# -- non-maximum suppression ------------------------------------------------------------------------------
def test_nms_keeps_the_best_of_overlapping_boxes_and_every_separate_one() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 10.5]], dtype=np.float32)
    scores = np.array([0.8, 0.9, 0.7, 0.1], dtype=np.float32)
    assert faces.nms(boxes, scores, 0.5).tolist() == [1, 2]


def test_nms_min_drops_a_box_inside_a_better_one_that_union_keeps() -> None:
    boxes = np.array([[0, 0, 99, 99], [10, 10, 29, 29]], dtype=np.float32)  # small box wholly inside
    scores = np.array([0.9, 0.8], dtype=np.float32)
    assert faces.nms(boxes, scores, 0.7).tolist() == [0, 1]
    assert faces.nms(boxes, scores, 0.7, method="min").tolist() == [0]


def test_nms_of_nothing_is_nothing() -> None:
    assert faces.nms(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), 0.5).shape == (0,)


def network_input(rgb: tuple[int, int, int]) -> np.ndarray:
    """What the networks see for a pixel of this colour: channels first, (v - 127.5) / 128."""
    return ((np.asarray(rgb, dtype=np.float32) - 127.5) / 128)[:, None, None]


def test_crops_average_each_cell_of_the_box_and_clamp_it_to_the_image() -> None:
    img = np.zeros((40, 80, 3), dtype=np.uint8)
    img[:, :40] = (200, 0, 0)  # left half red, right half blue
    img[:, 40:] = (0, 0, 200)
    img[:, 39:41] = (100, 0, 100)
    boxes = np.array([[1, 1, 30, 30], [60, -20, 200, 35], [41, 1, 40, 30]], dtype=np.float32)  # last one empty
    out = faces._crops(faces._packed(Image.fromarray(img)), boxes, 4)
    assert out.shape == (3, 3, 4, 4) and out.dtype == np.float32
    assert (out[0] == network_input((200, 0, 0))).all()  # wholly inside the red half
    assert (out[1] == network_input((0, 0, 200))).all()  # clamped to the image: still only blue
    assert (out[2] == network_input((0, 0, 0))).all()


def test_a_crop_cell_is_the_rounded_mean_of_its_samples_for_every_channel_and_any_value() -> None:
    # 2x2 blocks of (a, b / c, d) per channel: a 4x4 box cropped to 2x2 averages each block, rounding half up.
    rng = np.random.default_rng(7)
    img = rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
    img[:2, :2] = 255  # the largest sum: no channel may carry into the next
    img[2:, 2:] = [[(0, 1, 2), (0, 1, 2)], [(0, 1, 2), (0, 1, 3)]]  # 0.0, 1.0, 2.25 -> 0, 1, 2; and a .5 below
    img[2:, :2] = [[(1, 2, 0), (2, 1, 0)], [(1, 2, 0), (2, 1, 0)]]  # 1.5 -> 2 in both R and G
    out = faces._crops(faces._packed(Image.fromarray(img)), np.array([[1, 1, 4, 4]], dtype=np.float32), 2)[0]
    means = np.floor(img.reshape(2, 2, 2, 2, 3).astype(np.float64).mean(axis=(1, 3)) + 0.5)  # (row, col, channel)
    assert np.array_equal(out, ((means - 127.5) / 128).transpose(2, 0, 1).astype(np.float32))
    assert (out[:, 0, 0] == network_input((255, 255, 255))[:, 0, 0]).all()
    assert (out[:, 1, 0] == network_input((2, 2, 0))[:, 0, 0]).all()


def test_nms_keeps_boxes_in_score_order_whatever_order_they_come_in() -> None:
    boxes = np.array([[50, 50, 60, 60], [0, 0, 10, 10], [1, 1, 11, 11]], dtype=np.float32)
    scores = np.array([0.5, 0.6, 0.9], dtype=np.float32)
    assert faces.nms(boxes, scores, 0.5).tolist() == [2, 0]


def test_boxes_become_fractions_of_the_image() -> None:
    found = [faces.DetectedFace(left=100, top=50, right=300, bottom=250, probability=0.987)]
    (f,) = faces.to_faces(found, (400, 500))
    assert (f.left, f.top, f.width, f.height, f.confidence) == (0.25, 0.1, 0.5, 0.4, 98.7)


# -- labels ---------------------------------------------------------------------------------------------------
def test_no_face_means_no_person_label() -> None:
    assert faces.person_labels(()) == ()


def test_person_and_face_are_as_confident_as_the_best_face_and_merge_by_confidence() -> None:
    base = Classification(
        labels=(Label(name="Clothing", confidence=99.5), Label(name="suit", confidence=40.0)),
        backend="local",
        model_version="m",
    )
    out = faces.with_faces(base, (face(97.0), face(99.0)), max_labels=3)
    assert [(label.name, label.confidence) for label in out.labels] == [
        ("Clothing", 99.5),
        ("Person", 99.0),
        ("Face", 99.0),
    ]
    assert out.face_count == 2 and out.labels[2].parents == ("Person",)


def test_a_backend_without_a_detector_has_no_face_count() -> None:
    assert Classification(labels=(), backend="rekognition", model_version="x").face_count is None


# -- rules on the face count -----------------------------------------------------------------------------------
RULES = routing.validate_rules(
    {
        "rules": [
            {"album": "group", "labels": ["Person"], "min_faces": 3},
            {"album": "people", "labels": ["Person"], "max_faces": 2},
            {"album": "landscapes", "labels": ["Landscape"], "max_faces": 0},
        ]
    }
)
PERSON = [Label(name="Person", confidence=99.0), Label(name="Landscape", confidence=90.0)]


@pytest.mark.parametrize(
    ("count", "albums"),
    [(0, ["people", "landscapes"]), (1, ["people"]), (2, ["people"]), (3, ["group"]), (12, ["group"]), (None, [])],
)
def test_rules_match_on_the_face_count(count: int | None, albums: list[str]) -> None:
    assert [m.album for m in routing.match(RULES, PERSON, face_count=count)] == albums


def test_face_bounds_must_make_sense() -> None:
    with pytest.raises(ConfigurationError, match="min_faces"):
        routing.validate_rules({"rules": [{"album": "x", "labels": ["Person"], "min_faces": 3, "max_faces": 2}]})
    with pytest.raises(ConfigurationError, match="min_faces"):
        routing.validate_rules({"rules": [{"album": "x", "labels": ["Person"], "min_faces": -1}]})


def test_family_preset_sends_a_group_to_people_and_also_files_it_under_group() -> None:
    rules = routing.load_rules("family")
    person = [Label(name="Person", confidence=99.9, categories=("Person Description",))]
    assert [m.album for m in routing.match(rules, person, face_count=1)] == ["people"]
    assert [m.album for m in routing.match(rules, person, face_count=4)] == ["people", "group"]


def test_family_preset_routes_nature_to_nature_never_animals() -> None:
    rules = routing.load_rules("family")
    for name in ("Flower", "Plant", "Landscape", "Mountain", "Shore", "Nature"):
        found = routing.match(rules, [Label(name=name, confidence=60.0)], face_count=0)
        assert [m.album for m in found] == ["nature"], name


# -- the record ---------------------------------------------------------------------------------------------
def test_the_record_keeps_the_face_count_and_boxes_and_the_decision_uses_them() -> None:
    inspection = Inspection(
        object=ObjectRef(bucket="b", key="incoming/x.jpg", size=10, etag="e", sequencer="01"),
        received_at=NOW,
        usable=True,
        sha256="ab" * 32,
        metadata=ImageMetadata(format="JPEG", width=4, height=3, mode="RGB"),
    )
    classification = Classification(
        labels=(Label(name="Person", confidence=99.0),), backend="local", model_version="m", faces=(face(),) * 3
    )
    rec = pipeline.decide_record(RULES, inspection, classification, now=NOW)
    assert rec.face_count == 3 and rec.faces == (face(),) * 3
    assert rec.memberships[0].album == "group"
    assert rec.destination_key.startswith("albums/group/")
    stored = type(rec).model_validate(rec.model_dump(mode="json"))
    assert stored.faces == rec.faces and stored.face_count == 3
