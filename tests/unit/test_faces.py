"""Faces in the domain: box maths of the detector, Person/Face labels, face-count rules, and the record."""

from __future__ import annotations

import itertools
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


def test_nms_of_one_box_keeps_it() -> None:
    assert faces.nms(np.array([[0, 0, 10, 10]], np.float32), np.array([0.1], np.float32), 0.5).tolist() == [0]


def test_normalise_puts_channels_first_and_scales_to_the_networks_range() -> None:
    img = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3) * 2  # NHWC
    out = faces._normalise(img)
    assert out.shape == (2, 3, 3, 4) and out.dtype == np.float32 and out.flags.c_contiguous
    assert np.array_equal(out, ((img.astype(np.float32) - 127.5) / 128).transpose(0, 3, 1, 2))
    assert np.array_equal(faces._normalise(img[1]), out[1:])  # one HWC image: a batch of one


# -- the image pyramid ------------------------------------------------------------------------------------
def test_the_pyramid_halves_each_level_down_to_p_nets_window() -> None:
    rng = np.random.default_rng(3)
    img = Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8))  # a 12 MP JPEG as decoded
    levels = faces.pyramid(img, 24)
    assert [scale for scale, _ in levels] == [0.5, 0.25, 0.125, 0.0625]  # 375 / 32 is under 12
    assert [level.size for _, level in levels] == [(250, 188), (125, 94), (63, 47), (32, 24)]
    first = np.asarray(levels[0][1], dtype=np.float64)
    blocks = np.asarray(img, dtype=np.float64)[:374].reshape(187, 2, 250, 2, 3).mean(axis=(1, 3))
    assert np.abs(first[:187] - blocks).max() <= 0.5  # a 2x2 box average (rounded to whole levels)
    for (_, bigger), (_, smaller) in itertools.pairwise(levels):
        assert np.array_equal(np.asarray(smaller), np.asarray(bigger.reduce(2)))
    assert faces.pyramid(img.resize((23, 23)), 24) == []  # halved, shorter than P-Net's 12 pixels


def test_a_finer_pyramid_resizes_its_first_two_levels_and_halves_the_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "SCALE_FACTOR", 0.5**0.5)
    img = Image.fromarray(np.random.default_rng(4).integers(0, 256, (300, 400, 3), dtype=np.uint8))
    levels = faces.pyramid(img, 30)  # 12 / 30 = 0.4: not a whole reduction either
    scales = [scale for scale, _ in levels]
    assert scales == pytest.approx([0.4 * 0.5 ** (k / 2) for k in range(len(scales))])
    assert 300 * scales[-1] >= 12 > 300 * scales[-1] * 0.5**0.5
    assert levels[0][1].size == (160, 120) and levels[1][1].size == (113, 85)
    for k in range(2, len(levels)):
        assert np.array_equal(np.asarray(levels[k][1]), np.asarray(levels[k - 2][1].reduce(2)))


# -- P-Net proposals --------------------------------------------------------------------------------------
def detector_with_fake_pnet(monkeypatch: pytest.MonkeyPatch, hits: dict[int, list[tuple[int, int]]]):
    """A FaceDetector without its ONNX sessions, whose P-Net finds a face (logit 10) at the given cells of the
    pyramid level with that many columns, and nothing elsewhere (zero box offsets)."""
    detector = object.__new__(faces.FaceDetector)
    detector.min_face, detector.thresholds = 24, faces.STAGE_THRESHOLDS

    def cells(batch: np.ndarray, *, stride: int = 2) -> np.ndarray:
        h, w = batch.shape[2:]
        rows, columns = -(-(h - 2) // 2) - 4, -(-(w - 2) // 2) - 4  # P-Net's cells; every other one at stride 4
        out = np.zeros((1, 5, -(-rows // (stride // 2)), -(-columns // (stride // 2))), np.float32)
        out[0, 0] = -10.0
        for x, y in hits.get(w, []):
            out[0, 0, y, x] = 10.0
        return out

    monkeypatch.setattr(detector, "_pnet_cells", cells)
    return detector


def test_p_net_boxes_are_suppressed_within_a_level_but_not_across_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faces, "SCALE_FACTOR", 0.75)  # levels close enough for boxes of two levels to overlap
    monkeypatch.setattr(faces, "FIRST_LEVEL_STRIDE", 2)  # neighbouring cells on the first level too
    img = Image.new("RGB", (200, 200))
    # level 0 (scale 0.5, 100 px): cells 20 and 21 give boxes 82-104 and 86-108 (IoU 0.69): one is kept.
    # level 1 (scale 0.375, 75 px): cell 15 gives 82-112, IoU 0.55 with 82-104: over the within-level 0.5, under
    # the cross-level 0.7, so both levels' boxes stay.
    detector = detector_with_fake_pnet(monkeypatch, {100: [(20, 20), (21, 21)], 75: [(15, 15)]})
    boxes = detector._proposals(img)
    sides = sorted(round(float(b[2] - b[0])) for b in boxes)
    assert sides == [22, 30] and (boxes[:, 4] > 0.99).all()


def test_the_first_level_steps_4_pixels_and_its_cells_map_to_p_nets_own(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = detector_with_fake_pnet(monkeypatch, {100: [(5, 7)]})  # 200 px: the first level is 100 px wide
    strides: list[int] = []
    fake = detector._pnet_cells
    monkeypatch.setattr(
        detector, "_pnet_cells", lambda batch, stride=2: strides.append(stride) or fake(batch, stride=stride)
    )
    (box,) = detector._proposals(Image.new("RGB", (200, 200)))
    assert strides == [4, 2, 2, 2]  # levels of 100, 50, 25 and 13 px
    assert box[:4].tolist() == [42, 58, 64, 80]  # P-Net's cell (10, 14): 2 * 10 + 1 .. 2 * 10 + 12 at scale 0.5


def test_p_net_keeps_a_cell_at_its_threshold_and_not_below(monkeypatch: pytest.MonkeyPatch) -> None:
    detector = detector_with_fake_pnet(monkeypatch, {})
    logit = float(np.log(0.95 / 0.05))

    def cells(batch: np.ndarray, *, stride: int = 2) -> np.ndarray:
        out = np.zeros((1, 5, 10, 10), np.float32)
        out[0, 0] = -10.0
        out[0, 0, 2, 2] = np.nextafter(np.float32(logit), np.float32(0))  # just under 0.95
        out[0, 0, 7, 7] = np.float32(logit) + np.float32(1e-5)
        return out

    monkeypatch.setattr(detector, "_pnet_cells", cells)
    boxes = detector._proposals(Image.new("RGB", (30, 30)))  # one level
    assert boxes.shape[0] == 1 and boxes[0, 4] == pytest.approx(0.95, abs=1e-5)
    assert boxes[0, :4].tolist() == [58, 58, 80, 80]  # cell (7, 7) at stride 4 is P-Net's (14, 14), at scale 0.5


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
