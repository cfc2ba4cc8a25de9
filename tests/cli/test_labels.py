"""``photosort labels train|evaluate`` on the dealership folder set, and ``photosort near-duplicates evaluate``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from photosort.fewshot import LabelHead

VEHICLES = Path(__file__).resolve().parents[1] / "data" / "vehicles"


def test_train_writes_a_versioned_head_with_its_cross_validated_accuracy(cli, tmp_path: Path) -> None:
    out = tmp_path / "heads" / "dealership.json"

    run = cli("labels", "train", str(VEHICLES), "--name", "dealership", "--out", str(out))

    assert run.code == 0, run.err
    head = LabelHead.from_json(out.read_text())
    doc = json.loads(out.read_text())
    assert head.labels == ("bus", "car", "truck") and head.name == "dealership"
    assert head.model_version.startswith("efficientnet-lite0-imagenet-fp32-")
    assert doc["format_version"] == 1 and len(doc["version"]) == 12
    assert doc["examples_per_label"] == {"bus": 3, "car": 4, "truck": 4}
    assert doc["accuracy"]["folds"] == 3 and doc["accuracy"]["examples"] == 11
    assert doc["accuracy"]["cross_validated"] >= 0.7  # measured 0.818 (README, "Your own labels")
    assert "accuracy" in run.out and "wrote" in run.out


def test_evaluate_prints_accuracy_per_label_and_draws_the_confusion_matrix(cli, tmp_path: Path) -> None:
    png = tmp_path / "confusion.png"

    run = cli("labels", "evaluate", str(VEHICLES), "--name", "dealership", "--png", str(png))

    assert run.code == 0, run.err
    for label in ("bus", "car", "truck", "all"):
        assert any(line.split()[0] == label and "accuracy" in line for line in run.out.splitlines()), label
    with Image.open(png) as img:
        assert img.format == "PNG" and img.width > 200
        pixels = np.asarray(img.convert("RGB")).reshape(-1, 3)
        assert len(np.unique(pixels, axis=0)) > 20  # a drawn matrix, not a blank page


def test_unreadable_file_is_skipped_and_named(cli, tmp_path: Path) -> None:
    data = tmp_path / "set"
    shutil.copytree(VEHICLES, data, ignore=shutil.ignore_patterns("*.md"))
    (data / "car" / "broken.jpg").write_bytes(b"not a photo")

    run = cli("labels", "evaluate", str(data), "--name", "d", "--png", str(tmp_path / "c.png"))

    assert run.code == 0
    assert "skipped" in run.err and "broken.jpg" in run.err


def test_one_label_folder_is_a_usage_error(cli, tmp_path: Path) -> None:
    (tmp_path / "only").mkdir()
    shutil.copy(VEHICLES / "car" / "sedan.png", tmp_path / "only" / "sedan.png")

    run = cli("labels", "train", str(tmp_path), "--name", "x")

    assert run.code == 2 and "need at least 2 sub-folders" in run.err


def test_near_duplicate_evaluation_reports_the_false_positive_rate(cli) -> None:
    run = cli("near-duplicates", "evaluate", str(VEHICLES))

    assert run.code == 0, run.err
    assert "11 distinct photos, 55 pairs" in run.out
    assert "false positives: 0 of 55 pairs = 0.00%" in run.out
    assert "re-encoded (JPEG q85)" in run.out
