"""The MTCNN face detector's files and its behaviour on real photos."""

from __future__ import annotations

import hashlib
import json

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
