"""The local backend's arithmetic, pinned on inputs built here (no model): softmax, how class scores become labels
(thresholds at their boundary, ties, duplicates, rounding, shapes), the centre crop that feeds the model, the
pixel limit of ``preprocess`` and the thread count on Lambda (found by ``make mutation`` of backends.local)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
from PIL import Image

from photosort.backends import local
from photosort.errors import ImageUnusableError

DOC = {
    "classes": [
        {"index": 0, "name": "cat", "parents": ["Cat"], "categories": ["Animals and Pets"]},
        {"index": 1, "name": "Aardvark", "parents": ["Zoo"], "categories": ["Animals"]},
        {"index": 2, "name": "lynx", "parents": [], "categories": ["Wild"]},
    ],
    "anchors": {
        "Cat": {"category": "Animals and Pets", "parents": []},
        "Zoo": {"category": "Places", "parents": []},
    },
}


def table() -> local.LabelTable:
    return local.LabelTable.from_json(DOC)


def test_softmax_is_normalised_in_float64_and_stable_for_large_logits() -> None:
    probs = local.softmax(np.array([1000.0, 999.0, 998.0], dtype=np.float32))
    assert probs.dtype == np.float64
    assert all(math.isfinite(p) for p in probs)
    assert float(probs.sum()) == pytest.approx(1.0)
    e = np.exp(np.array([2.0, 1.0, 0.0]))
    assert probs.tolist() == pytest.approx((e / e.sum()).tolist())


def test_a_score_exactly_at_the_minimum_confidence_is_kept() -> None:
    labels = local.labels_from_probabilities(np.array([0.97, 0.02, 0.01]), table(), min_confidence=2.0)
    names = {label.name for label in labels}
    assert {"Aardvark", "Zoo"} <= names  # 2.0 % each: the class and its general label sit on the threshold
    assert "lynx" not in names  # 1.0 %: below


def test_a_general_label_wins_a_tie_with_a_class_whatever_the_names() -> None:
    labels = local.labels_from_probabilities(np.array([0.0, 0.6, 0.4]), table())
    assert [label.name for label in labels][:2] == ["Zoo", "Aardvark"]  # both 60 %: "Zoo" sorts after "Aardvark"


def test_a_class_and_a_general_label_of_one_name_are_one_label_and_the_rest_follow() -> None:
    labels = local.labels_from_probabilities(np.array([0.5, 0.3, 0.2]), table())
    names = [label.name for label in labels]
    assert [n.casefold() for n in names].count("cat") == 1
    assert names == ["Cat", "Zoo", "Aardvark", "lynx"]
    cls = next(label for label in labels if label.name == "lynx")
    assert cls.categories == ("Wild",)


def test_confidences_keep_two_decimals() -> None:
    labels = local.labels_from_probabilities(np.array([0.0, 0.876544, 0.123456]), table())
    got = {label.name: label.confidence for label in labels}
    assert got == {"Zoo": 87.65, "Aardvark": 87.65, "lynx": 12.35}


def test_a_batch_of_one_row_of_scores_is_read_as_one_row() -> None:
    labels = local.labels_from_probabilities(np.array([[0.1, 0.2, 0.7]]), table())
    assert labels[0].name == "lynx" and labels[0].confidence == 70.0


def test_at_most_twenty_labels_by_default() -> None:
    n = 30
    doc = {
        "classes": [{"index": i, "name": f"c{i:02d}", "parents": [f"G{i:02d}"], "categories": []} for i in range(n)],
        "anchors": {f"G{i:02d}": {"category": "x", "parents": []} for i in range(n)},
    }
    labels = local.labels_from_probabilities(np.full(n, 1.0 / n), local.LabelTable.from_json(doc))
    assert len(labels) == 20


def _picture(w: int, h: int) -> Image.Image:
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    arr = np.stack([(xs * 7) % 256, (ys * 5) % 256, ((xs + ys) * 3) % 256], axis=-1).astype(np.uint8)
    return Image.fromarray(arr, "RGB")


@pytest.mark.parametrize(("w", "h"), [(301, 600), (600, 301), (300, 604), (604, 300), (224, 224)])
def test_the_tensor_is_the_centre_crop_of_the_short_side_resized_to_256(w: int, h: int) -> None:
    img = _picture(w, h)
    scale = 256 / min(w, h)
    size = (max(224, round(w * scale)), max(224, round(h * scale)))
    left, top = (size[0] - 224) // 2, (size[1] - 224) // 2
    ref = img.resize(size, Image.Resampling.BICUBIC).crop((left, top, left + 224, top + 224))
    expected = ((np.asarray(ref, dtype=np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[np.newaxis]
    tensor = local.to_tensor(img)
    assert tensor.shape == (1, 3, 224, 224) and tensor.dtype == np.float32 and tensor.flags["C_CONTIGUOUS"]
    assert np.array_equal(tensor, expected)


def test_preprocess_applies_the_pixel_limit_it_is_given() -> None:
    buf = io.BytesIO()
    _picture(64, 64).save(buf, "PNG")
    with pytest.raises(ImageUnusableError, match="exceeds the limit of 1000"):
        local.preprocess(buf.getvalue(), max_pixels=1000)
    assert local.preprocess(buf.getvalue()).shape == (1, 3, 224, 224)


def test_a_lambda_between_one_and_two_vcpus_gets_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "2654")  # 1.5 vCPU
    threads = local._threads()
    assert threads == 1 and isinstance(threads, int)
