"""Few-shot heads and compact embeddings: numpy-only logic, artifacts, the head source and its refusals."""

from __future__ import annotations

import json
import os
from pathlib import Path

import boto3
import numpy as np
import pytest
from moto import mock_aws

from photosort import embeddings, fewshot
from photosort.errors import ConfigurationError
from photosort.fewshot import HeadModelMismatchError, HeadSource, HeadUnavailableError, LabelHead

DIM = 64
MODEL = "efficientnet-lite0-imagenet-fp32-abcdef01"


def clusters(n_per: int = 12, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.RandomState(seed)
    centres = rng.standard_normal((3, DIM)) * 3
    x = np.concatenate([c + rng.standard_normal((n_per, DIM)) for c in centres])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32), np.repeat(np.arange(3), n_per)


def test_int8_embedding_keeps_the_cosine_and_is_compact() -> None:
    rng = np.random.RandomState(0)
    a, b = rng.standard_normal(1280).astype(np.float32), rng.standard_normal(1280).astype(np.float32)
    b = a + 0.5 * b
    ea, eb = embeddings.encode(a, MODEL), embeddings.encode(b, MODEL)
    exact = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert embeddings.cosine(ea, eb) == pytest.approx(exact, abs=2e-3)
    assert ea.dim == 1280 and len(ea.data) == 1708


def test_embeddings_of_different_models_are_not_compared() -> None:
    v = np.ones(8, dtype=np.float32)
    with pytest.raises(embeddings.EmbeddingMismatchError):
        embeddings.cosine(embeddings.encode(v, "a"), embeddings.encode(v, "b"))


@pytest.mark.parametrize("method", fewshot.METHODS)
def test_cross_validation_separates_clusters_and_counts_every_example(method: str) -> None:
    x, y = clusters()
    cv = fewshot.cross_validate(x, y, ("a", "b", "c"), method=method, folds=4)
    assert cv.folds == 4 and int(cv.confusion.sum()) == len(y)
    assert cv.accuracy > 0.95 and min(cv.per_label.values()) > 0.9


def test_cross_validation_is_honest_about_noise() -> None:
    rng = np.random.RandomState(1)
    x = rng.standard_normal((60, DIM)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    y = rng.randint(0, 3, 60)
    cv = fewshot.cross_validate(x, y, ("a", "b", "c"))
    assert cv.accuracy < 0.6  # random labels cannot be learnt: held-out folds show it


def test_too_few_examples_is_a_clear_error() -> None:
    x, y = clusters(n_per=1)
    with pytest.raises(ConfigurationError, match="at least 2 examples per label"):
        fewshot.cross_validate(x, y, ("a", "b", "c"))


def trained(model: str = MODEL) -> LabelHead:
    x, y = clusters()
    return fewshot.train_head("cats", x, y, ("luna", "max", "milo"), model)


def test_head_artifact_round_trips_and_predicts_with_numpy_only() -> None:
    head = trained()
    doc = json.loads(head.to_json())
    assert doc["format"] == "photosort-label-head" and doc["model_version"] == MODEL
    assert doc["labels"] == ["luna", "max", "milo"] and doc["accuracy"]["cross_validated"] > 0.95
    assert set(doc["examples_per_label"].values()) == {12}
    again = LabelHead.from_json(head.to_json())
    x, _ = clusters(seed=3)
    labels = again.labels_for(x[0], MODEL)
    assert labels[0].name == "luna" and labels[0].confidence > 50 and labels[0].categories == ("Custom",)
    assert np.argmax(again.probabilities(x[-1])) == 2


def test_head_for_another_model_version_is_refused() -> None:
    head = trained(model="efficientnet-lite0-imagenet-int8-12345678")
    with pytest.raises(
        HeadModelMismatchError, match="was trained on model 'efficientnet-lite0-imagenet-int8-12345678'"
    ):
        head.labels_for(np.zeros(DIM, dtype=np.float32), MODEL)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ('{"format": "other"}', "not a label head"),
    ],
)
def test_invalid_artifacts_are_named(text: str, message: str) -> None:
    with pytest.raises(HeadUnavailableError, match=message):
        LabelHead.from_json(text)


def test_inconsistent_weights_are_refused() -> None:
    doc = json.loads(trained().to_json())
    doc["weights"] = doc["weights"][:2]
    with pytest.raises(HeadUnavailableError, match="do not fit"):
        LabelHead.from_json(json.dumps(doc))


def test_file_head_is_re_read_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "cats.head.json"
    head = trained()
    path.write_text(head.to_json())
    source = HeadSource(str(path))
    assert source.current().labels == ("luna", "max", "milo")
    renamed = LabelHead(
        name="cats",
        labels=("a", "b", "c"),
        model_version=MODEL,
        method=head.method,
        weights=head.weights,
        bias=head.bias,
    )
    path.write_text(renamed.to_json())
    os.utime(path, ns=(1, 10**18))
    assert source.current().labels == ("a", "b", "c")
    path.unlink()
    with pytest.raises(HeadUnavailableError, match="cannot read it"):
        source.current()


@mock_aws
def test_s3_head_is_cached_for_max_age_then_re_read() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="photos")
    head = trained()
    s3.put_object(Bucket="photos", Key="heads/cats.json", Body=head.to_json().encode())
    cached = HeadSource("s3://photos/heads/cats.json", max_age=3600, client_factory=lambda name: s3)
    fresh = HeadSource("s3://photos/heads/cats.json", max_age=0, client_factory=lambda name: s3)
    assert cached.current().labels == fresh.current().labels == ("luna", "max", "milo")
    renamed = LabelHead(
        name="cats",
        labels=("a", "b", "c"),
        model_version=MODEL,
        method=head.method,
        weights=head.weights,
        bias=head.bias,
    )
    s3.put_object(Bucket="photos", Key="heads/cats.json", Body=renamed.to_json().encode())
    assert fresh.current().labels == ("a", "b", "c")
    assert cached.current().labels == ("luna", "max", "milo")  # within max_age: the cached copy


@mock_aws
def test_missing_s3_head_is_named() -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="photos")
    with pytest.raises(HeadUnavailableError, match=r"s3://photos/heads/none\.json: cannot read it"):
        HeadSource("s3://photos/heads/none.json", client_factory=lambda name: s3).current()


def test_head_labels_come_first_and_the_total_is_capped() -> None:
    from photosort.models import Label

    head_labels = (Label(name="suv", confidence=90.0, categories=("Custom",)),)
    model_labels = (*(Label(name=f"l{i}", confidence=50.0 - i) for i in range(5)), Label(name="SUV", confidence=1))
    merged = fewshot.merge_labels(head_labels, model_labels, 4)
    assert [m.name for m in merged] == ["suv", "l0", "l1", "l2"]


def test_the_head_is_named_in_the_model_version_and_read_back() -> None:
    head = trained()
    assert head.ident == f"cats@{head.version}" and len(head.version) == 12
    version = fewshot.tagged(MODEL, head)
    assert version == f"{MODEL}+head:cats@{head.version}"
    assert fewshot.head_of(version) == head.ident
    assert fewshot.tagged(MODEL, None) == MODEL
    assert fewshot.head_of(MODEL) is None and fewshot.head_of(None) is None and fewshot.head_of("") is None
    assert fewshot.head_of(f"{MODEL}+head:") is None
    # a retrained head (other weights) has another version
    x, y = clusters(seed=4)
    other = fewshot.train_head("cats", x, y, ("luna", "max", "milo"), MODEL)
    assert fewshot.tagged(MODEL, other) != version
