"""The MTCNN face detector's files and its behaviour on real photos."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

import photosort_model
from photosort.faces import FaceDetector, to_faces
from photosort.imaging import load_rgb


def test_the_shipped_onnx_files_are_the_ones_the_provenance_names() -> None:
    doc = json.loads(photosort_model.FACES_PROVENANCE.read_text(encoding="utf-8"))
    assert doc["source"]["package"] == "facenet-pytorch" and doc["source"]["version"] == "2.6.0"
    assert "MIT" in doc["license"]
    for net, path in photosort_model.FACE_MODELS.items():
        entry = doc["files"][path.name]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"], net
        assert entry["max_abs_diff_vs_torch"] < 1e-4


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector()


def test_the_astronauts_face_is_where_her_face_is(detector, sample_photo) -> None:
    img = load_rgb(sample_photo("astronaut"))  # 512x512; her face is left of centre, in the top third
    (face,) = to_faces(detector.detect(img), img.size)
    assert 0.30 < face.left < 0.40 and 0.05 < face.top < 0.20
    assert 0.12 < face.width < 0.25 and 0.15 < face.height < 0.30
    assert face.confidence > 99


def test_a_face_is_found_at_any_size_the_photo_comes_in(detector, sample_photo) -> None:
    img = load_rgb(sample_photo("grace_hopper"))
    for size in ((256, 300), (512, 600), (1024, 1200)):
        found = detector.detect(img.resize(size))
        assert len(found) == 1, size


def test_too_small_to_hold_a_face_is_no_face(detector, sample_photo) -> None:
    img = load_rgb(sample_photo("astronaut")).resize((16, 16))
    assert detector.detect(img) == []


def test_the_shipped_files_are_the_rebuilt_graphs_within_float_rounding_of_the_export() -> None:
    doc = json.loads(photosort_model.FACES_PROVENANCE.read_text(encoding="utf-8"))
    for net in ("pnet", "rnet", "onet"):
        entry = doc["files"][photosort_model.FACE_MODELS[net].name]
        assert entry["rebuild"]["max_abs_diff_vs_previous"] < 1e-5
        assert entry["rebuild"]["outputs"] == entry["outputs"]
    assert doc["files"]["mtcnn_pnet.onnx"]["outputs"] == doc["files"]["mtcnn_pnet_stride4.onnx"]["outputs"]
    assert doc["files"]["mtcnn_pnet.onnx"]["outputs"] == ["logit_regression"]


def test_p_net_at_stride_4_gives_exactly_every_other_cell_of_p_net(detector) -> None:
    rng = np.random.default_rng(6)
    for h, w in ((188, 250), (17, 23), (12, 12), (13, 14)):
        batch = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
        (cells,) = detector._pnet.run(None, {"input": batch})
        (sparse,) = detector._pnet_stride4.run(None, {"input": batch})
        assert np.array_equal(sparse, cells[:, :, ::2, ::2]), (h, w)


def test_p_net_in_strips_gives_exactly_the_cells_of_one_run(detector) -> None:
    rng = np.random.default_rng(5)
    for h, w in ((188, 250), (189, 251), (375, 100), (40, 30), (301, 40)):  # strips of 32 rows; odd; one strip
        batch = rng.uniform(-1, 1, (1, 3, h, w)).astype(np.float32)
        (whole,) = detector._pnet.run(None, {"input": batch})
        assert whole.shape == (1, 5, -(-(h - 2) // 2) - 4, -(-(w - 2) // 2) - 4)
        assert np.array_equal(detector._pnet_cells(batch), whole), (h, w)
        (whole,) = detector._pnet_stride4.run(None, {"input": batch})
        assert np.array_equal(detector._pnet_cells(batch, stride=4), whole), (h, w, 4)


def test_the_12_mp_benchmark_photos_give_their_faces(detector, sample_photo) -> None:
    # what bench/faces.py times: the astronaut upscaled to 4000 px and decoded as classify does (about 500x375)
    img = load_rgb(sample_photo("astronaut")).resize((4000, 4000)).crop((0, 250, 4000, 3250)).reduce(8)
    (face,) = to_faces(detector.detect(img), img.size)
    assert face.confidence > 99
