"""The local backend's plumbing, with its per-process caches emptied for each test: the label table read from
``labels.json``, the model version string, the intra-op thread count, and the ONNX Runtime session's settings.

(The model's answers on real photos are pinned by tests/model/test_local_backend.py.)
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from photosort.backends import local
from photosort.errors import BackendError, BackendUnavailableError
from photosort.models import BackendLimits

DOC = {
    "classes": [
        {"index": 0, "name": "tabby", "parents": ["Cat", "Animal"], "categories": ["Animals and Pets"]},
        {"index": 1, "name": "sports car", "parents": ["Car"], "categories": ["Vehicles", "Transport"]},
        {"index": 2, "name": "lynx", "parents": ["Animal"], "categories": []},
    ],
    "anchors": {
        "Cat": {"category": "Animals and Pets", "parents": ["Animal"]},
        "Animal": {"category": "Animals and Pets", "parents": []},
        "Car": {"category": "Vehicles", "parents": ["Vehicle", "Transport"]},
    },
}


def test_the_label_table_is_read_as_arrays() -> None:
    table = local.LabelTable.from_json(DOC)

    assert table.class_names == ("tabby", "sports car", "lynx")
    assert table.class_parents == (("Cat", "Animal"), ("Car",), ("Animal",))
    assert table.class_categories == (("Animals and Pets",), ("Vehicles", "Transport"), ())
    assert table.general_names == ("Cat", "Animal", "Car")
    assert table.general_parents == (("Animal",), (), ("Vehicle", "Transport"))
    assert table.general_categories == (("Animals and Pets",), ("Animals and Pets",), ("Vehicles",))
    assert table.membership.dtype == np.float32
    assert table.membership.tolist() == [[1.0, 0.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]


def test_general_labels_sum_their_classes_from_a_table() -> None:
    table = local.LabelTable.from_json(DOC)

    labels = local.labels_from_probabilities(np.array([0.30, 0.02, 0.60]), table, max_labels=10)

    got = {label.name: label.confidence for label in labels}
    assert got == {"Animal": 90.0, "lynx": 60.0, "tabby": 30.0, "Cat": 30.0, "sports car": 2.0, "Car": 2.0}
    assert [label.name for label in labels] == ["Animal", "lynx", "Cat", "tabby", "Car", "sports car"]
    cat = next(label for label in labels if label.name == "Cat")
    assert (cat.parents, cat.categories) == (("Animal",), ("Animals and Pets",))
    with pytest.raises(BackendError, match="model returned 2 scores, the label table has 3"):
        local.labels_from_probabilities(np.array([0.5, 0.5]), table)


def fake_model_files(tmp_path: Path, **files: Any) -> SimpleNamespace:
    return SimpleNamespace(
        LABELS=tmp_path / "labels.json",
        PROVENANCE=tmp_path / "PROVENANCE.json",
        model_path=lambda variant: tmp_path / f"model-{variant}.onnx",
        **files,
    )


@pytest.fixture
def model_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> SimpleNamespace:
    files = fake_model_files(tmp_path)
    monkeypatch.setattr(local, "_model_files", lambda: files)
    monkeypatch.setattr(local, "_TABLE", None)
    return files


def test_the_label_table_is_read_once_per_process(model_dir: SimpleNamespace) -> None:
    model_dir.LABELS.write_text(json.dumps(DOC), encoding="utf-8")

    first = local.label_table()
    model_dir.LABELS.unlink()

    assert first.class_names == ("tabby", "sports car", "lynx")
    assert local.label_table() is first  # cached: the file is not read again


def test_a_missing_label_table_makes_the_backend_unavailable(model_dir: SimpleNamespace) -> None:
    with pytest.raises(BackendUnavailableError) as caught:
        local.label_table()
    assert str(caught.value) == f"label table missing: {model_dir.LABELS}"


def test_the_model_version_names_the_family_variant_and_the_recorded_hash(model_dir: SimpleNamespace) -> None:
    path = model_dir.model_path("int8")
    path.write_bytes(b"weights")
    model_dir.PROVENANCE.write_text(json.dumps({"files": {path.name: {"sha256": "0123456789abcdef"}}}))

    assert local._model_version("int8", path) == "efficientnet-lite0-imagenet-int8-01234567"


@pytest.mark.parametrize(
    "provenance",
    [None, "{not json", json.dumps({"files": {}}), json.dumps({"other": 1})],
    ids=["missing", "broken", "no entry", "no files"],
)
def test_without_a_recorded_hash_the_model_file_is_hashed(model_dir: SimpleNamespace, provenance: str | None) -> None:
    path = model_dir.model_path("fp32")
    weights = bytes(range(256)) * 5000  # more than one 1 MiB block
    path.write_bytes(weights)
    if provenance is not None:
        model_dir.PROVENANCE.write_text(provenance)

    version = local._model_version("fp32", path)

    assert version == f"efficientnet-lite0-imagenet-fp32-{hashlib.sha256(weights).hexdigest()[:8]}"


@pytest.mark.parametrize(
    ("cpus", "memory", "threads"),
    [
        (8, None, 4),  # at most 4
        (3, None, 3),
        (1, None, 1),
        (8, "1769", 1),  # one vCPU at 1769 MB
        (8, "3538", 2),
        (8, "5307", 3),
        (8, "10240", 4),
        (2, "10240", 2),  # the affinity still bounds it
        (8, "1024", 1),  # less than one vCPU: still one thread
        (8, "lots", 4),  # not a number: ignored
    ],
)
def test_intra_op_threads_follow_the_cpus_the_function_may_use(
    monkeypatch: pytest.MonkeyPatch, cpus: int, memory: str | None, threads: int
) -> None:
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: set(range(cpus)))
    if memory is None:
        monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    else:
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", memory)

    assert local._threads() == threads


def test_the_affinity_of_this_process_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[int] = []
    monkeypatch.setattr(local.os, "sched_getaffinity", lambda pid: asked.append(pid) or {0, 1})
    monkeypatch.delenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", raising=False)
    assert local._threads() == 2 and asked == [0]


# -- the ONNX Runtime session -----------------------------------------------------------------------------------
@pytest.fixture
def no_sessions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(local, "_SESSIONS", {})
    monkeypatch.setattr(local, "_VERSIONS", {})


@pytest.mark.usefixtures("no_sessions")
def test_an_unknown_variant_is_unavailable_naming_the_choices() -> None:
    with pytest.raises(BackendUnavailableError) as caught:
        local.get_session("fp16")
    assert str(caught.value) == "unknown local model variant 'fp16'; expected one of ('fp32', 'int8')"


@pytest.mark.usefixtures("no_sessions")
def test_a_missing_model_file_is_unavailable(model_dir: SimpleNamespace) -> None:
    with pytest.raises(BackendUnavailableError) as caught:
        local.get_session("int8")
    assert str(caught.value) == f"model file missing for variant 'int8': {model_dir.model_path('int8')}"


@pytest.mark.usefixtures("no_sessions")
def test_a_model_file_onnx_runtime_cannot_load_is_unavailable(model_dir: SimpleNamespace) -> None:
    model_dir.model_path("fp32").write_bytes(b"not an onnx model")
    with pytest.raises(BackendUnavailableError, match=r"^cannot load model-fp32\.onnx: "):
        local.get_session("fp32")
    assert local._SESSIONS == {}


@pytest.mark.usefixtures("no_sessions")
def test_the_session_is_built_for_one_image_per_invocation_and_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("onnxruntime")
    import onnxruntime as ort

    monkeypatch.setattr(local, "_threads", lambda: 3)

    session = local.get_session("int8")

    options = session.get_session_options()
    assert options.intra_op_num_threads == 3 and options.inter_op_num_threads == 1
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.execution_mode == ort.ExecutionMode.ORT_SEQUENTIAL
    assert options.log_severity_level == 3
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert session.get_providers() == ["CPUExecutionProvider"]
    assert local._VERSIONS["int8"].startswith("efficientnet-lite0-imagenet-int8-")
    assert local.get_session("int8") is session and {"int8": session} == local._SESSIONS


def test_the_module_level_classify_keeps_one_classifier_per_variant_and_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[tuple[BackendLimits, str]] = []

    class Fake:
        def __init__(self, limits: BackendLimits, *, variant: str) -> None:
            built.append((limits, variant))
            self.limits, self.variant = limits, variant

        def classify_bytes(self, data: bytes) -> Any:
            return (self.variant, self.limits.max_labels, data)

    monkeypatch.setattr(local, "LocalClassifier", Fake)
    monkeypatch.setattr(local, "_CLASSIFIERS", {})
    five = BackendLimits(max_labels=5)

    assert local.classify_bytes(b"a", limits=five, variant="int8") == ("int8", 5, b"a")
    assert local.classify_bytes(b"b", limits=five, variant="int8") == ("int8", 5, b"b")
    assert local.classify_bytes(b"c") == ("fp32", local.DEFAULT_LIMITS.max_labels, b"c")
    assert built == [(five, "int8"), (local.DEFAULT_LIMITS, "fp32")]


@pytest.mark.usefixtures("no_sessions")
def test_the_face_detector_runs_on_one_thread_however_many_cpus_the_classifier_uses(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Its networks are too small to split: a second thread costs more CPU time for the same faces (bench/faces.py).
    pytest.importorskip("onnxruntime")
    from photosort import faces

    monkeypatch.setattr(faces, "_SESSIONS", {})
    monkeypatch.setattr(local, "_threads", lambda: 3)

    local.LocalClassifier(variant="int8")

    assert sorted(faces._SESSIONS) == ["onet", "pnet", "pnet_stride4", "rnet"]
    for session in faces._SESSIONS.values():
        options = session.get_session_options()
        assert options.intra_op_num_threads == 1 and options.inter_op_num_threads == 1
    assert local.get_session("int8").get_session_options().intra_op_num_threads == 3
