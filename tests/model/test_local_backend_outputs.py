"""What the local backend's classification carries besides its labels: the faces, the embedding, the model
version that names both, and the labels of a few-shot head (found by ``make mutation`` of backends.local)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from photosort import embeddings
from photosort.backends.local import LocalClassifier, to_tensor
from photosort.faces import MODEL_FAMILY as FACES_FAMILY
from photosort.imaging import load_rgb
from photosort.models import BackendLimits, Label


@pytest.fixture(scope="module")
def with_faces() -> LocalClassifier:
    return LocalClassifier()


@pytest.fixture(scope="module")
def without_faces() -> LocalClassifier:
    return LocalClassifier(detect_faces=False)


def test_the_astronaut_has_her_face_and_a_person_label(with_faces: LocalClassifier, sample_photo: Any) -> None:
    result = with_faces.classify_bytes(sample_photo("astronaut"))
    assert result.faces is not None and len(result.faces) == 1
    names = [label.name for label in result.labels]
    assert "Person" in names and "Face" in names
    assert len(result.labels) <= with_faces.limits.max_labels
    assert result.model_version == f"{with_faces.classifier_version}+{FACES_FAMILY}" == with_faces.model_version
    assert with_faces.variant == "fp32"


def test_without_the_detector_there_are_no_faces_and_the_version_is_the_classifiers(
    without_faces: LocalClassifier, sample_photo: Any
) -> None:
    result = without_faces.classify_bytes(sample_photo("astronaut"))
    assert result.faces is None
    assert result.model_version == without_faces.classifier_version == without_faces.model_version
    assert FACES_FAMILY not in result.model_version


def test_a_photo_without_people_has_no_face_but_says_the_detector_ran(
    with_faces: LocalClassifier, sample_photo: Any
) -> None:
    result = with_faces.classify_bytes(sample_photo("coffee"))
    assert result.faces == ()
    assert "Person" not in [label.name for label in result.labels]


def test_the_embedding_is_the_models_pooled_features_named_by_the_classifier_version(
    without_faces: LocalClassifier, sample_photo: Any
) -> None:
    data = sample_photo("chelsea")
    result = without_faces.classify_bytes(data)
    assert result.embedding is not None
    assert result.embedding.model_version == without_faces.classifier_version
    tensor = to_tensor(load_rgb(data, max_pixels=without_faces.limits.max_pixels, draft_size=(256, 256)))
    _, features = without_faces.run_model(tensor)
    expected = embeddings.normalise(features)
    assert float(np.dot(embeddings.decode(result.embedding), expected)) > 0.99


@pytest.mark.parametrize("detect_faces", [True, False])
def test_max_labels_caps_the_labels(sample_photo: Any, detect_faces: bool) -> None:
    classifier = LocalClassifier(BackendLimits(max_labels=2), detect_faces=detect_faces)
    assert len(classifier.classify_bytes(sample_photo("astronaut")).labels) == 2


class _Head:
    """A head source whose head answers one label, and remembers what it was asked."""

    def __init__(self, label: Label, ident: str = "cars@0123456789ab") -> None:
        self.label = label
        self.ident = ident
        self.asked: list[tuple[np.ndarray, str]] = []
        self.checked: list[str] = []

    def current(self) -> _Head:
        return self

    def check_model(self, model_version: str) -> None:
        self.checked.append(model_version)

    def labels_for(self, vector: np.ndarray, model_version: str) -> tuple[Label, ...]:
        self.asked.append((vector, model_version))
        return (self.label,)


def test_a_head_adds_its_label_first_from_the_normalised_features(sample_photo: Any) -> None:
    head = _Head(Label(name="Family Car", confidence=99.0))
    classifier = LocalClassifier(BackendLimits(max_labels=3), head=head, detect_faces=False)  # type: ignore[arg-type]
    assert head.checked == [classifier.classifier_version]
    data = sample_photo("chelsea")
    result = classifier.classify_bytes(data)
    assert result.labels[0].name == "Family Car" and len(result.labels) == 3
    (vector, version), *_ = head.asked
    assert version == classifier.classifier_version
    assert abs(float(np.linalg.norm(vector)) - 1.0) < 1e-4
    assert result.embedding is not None
    assert float(np.dot(embeddings.decode(result.embedding), vector)) > 0.99
    # the record says which head made the labels (a reclassify redoes records of another head); the embedding's
    # version stays the classifier's, since heads of any version share its space
    assert result.model_version == f"{classifier.classifier_version}+head:cars@0123456789ab"
    assert result.embedding.model_version == classifier.classifier_version
    assert classifier.labels_version == result.model_version


def test_the_head_in_the_model_version_follows_the_faces_and_a_retrained_head(sample_photo: Any) -> None:
    head = _Head(Label(name="Family Car", confidence=99.0))
    classifier = LocalClassifier(BackendLimits(max_labels=5), head=head)  # type: ignore[arg-type]
    first = classifier.classify_bytes(sample_photo("astronaut"))
    assert first.model_version == f"{classifier.model_version}+head:cars@0123456789ab"
    assert classifier.model_version.startswith(classifier.classifier_version + "+")  # the faces' family
    head.ident = "cars@ba9876543210"  # retrained: HeadSource re-reads it
    assert classifier.labels_version == f"{classifier.model_version}+head:cars@ba9876543210"
    assert classifier.classify_bytes(sample_photo("astronaut")).model_version == classifier.labels_version


def test_without_a_head_the_model_version_names_none(sample_photo: Any) -> None:
    classifier = LocalClassifier(BackendLimits(max_labels=3), detect_faces=False)
    result = classifier.classify_bytes(sample_photo("chelsea"))
    assert result.model_version == classifier.classifier_version == classifier.labels_version
    assert "+head:" not in result.model_version


def test_one_onnx_session_per_variant_per_process() -> None:
    from photosort.backends.local import get_session

    assert get_session("fp32") is get_session("fp32")
