"""The ``local`` backend: EfficientNet-Lite0 (ImageNet-1k) in ONNX Runtime, inside the Lambda itself.

The model and its label table come from the ``photosort_model`` package (the ModelLayer). One ONNX Runtime
session per variant is created per process and reused by every invocation of a warm Lambda container.

Preprocessing matches how the weights were trained and evaluated (TensorFlow EfficientNet-Lite): RGB 0-255,
shorter side resized to 256 (bicubic), centre crop 224x224, then ``(x - 127) / 128`` per channel.

Labels: the most likely ImageNet classes (with their general parents, e.g. tabby cat -> Cat -> Animal) plus the
general labels themselves, whose confidence is the summed probability of every class under them, so a photo that
is 40% tabby and 35% Egyptian cat is a confident "Cat". ImageNet has no person class: "Person" and "Face" come
from the MTCNN face detector (:mod:`photosort.faces`), which runs on the same decoded image.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from photosort import embeddings
from photosort.backends.base import ImageInput
from photosort.errors import BackendError, BackendUnavailableError
from photosort.faces import MODEL_FAMILY as FACES_FAMILY
from photosort.faces import FaceDetector, to_faces, with_faces
from photosort.imaging import load_rgb, rgb_from
from photosort.models import DEFAULT_MAX_PIXELS, BackendLimits, Classification, Label

if TYPE_CHECKING:
    from pathlib import Path

    from PIL.Image import Image

    from photosort.fewshot import HeadSource

BACKEND_NAME = "local"
MODEL_FAMILY = "efficientnet-lite0-imagenet"
VARIANTS = ("fp32", "int8")

IMAGE_SIZE = 224
RESIZE_SHORTER = 256  # = IMAGE_SIZE + 32, the TF eval "crop_padding"
DECODE_SIZE = (RESIZE_SHORTER, RESIZE_SHORTER)  # the draft size every photo is decoded at (JPEG DCT scaling)
MEAN_RGB = np.array([127.0, 127.0, 127.0], dtype=np.float32)
STDDEV_RGB = np.array([128.0, 128.0, 128.0], dtype=np.float32)
INPUT_NAME = "input"

MIN_CONFIDENCE = 1.0  # percent; anything below is noise for a 1000-way softmax
DEFAULT_LIMITS = BackendLimits()
TOP_CLASSES = 5  # fine-grained ImageNet classes reported per photo (general labels come on top)


# --------------------------------------------------------------------------------------------------- label table


@dataclass(frozen=True)
class LabelTable:
    """``labels.json`` in array form: class names/parents, and a 0/1 matrix from classes to general labels."""

    class_names: tuple[str, ...]
    class_parents: tuple[tuple[str, ...], ...]
    class_categories: tuple[tuple[str, ...], ...]
    general_names: tuple[str, ...]
    general_parents: tuple[tuple[str, ...], ...]
    general_categories: tuple[tuple[str, ...], ...]
    membership: np.ndarray  # (n_general, n_classes) float32; row g has 1 where the class is under g

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> LabelTable:
        classes = doc["classes"]
        anchors: dict[str, dict[str, Any]] = doc["anchors"]
        general = tuple(anchors)
        index = {name: i for i, name in enumerate(general)}
        membership = np.zeros((len(general), len(classes)), dtype=np.float32)
        for c in classes:
            for parent in c["parents"]:
                membership[index[parent], c["index"]] = 1.0
        return cls(
            class_names=tuple(c["name"] for c in classes),
            class_parents=tuple(tuple(c["parents"]) for c in classes),
            class_categories=tuple(tuple(c["categories"]) for c in classes),
            general_names=general,
            general_parents=tuple(tuple(anchors[g]["parents"]) for g in general),
            general_categories=tuple((anchors[g]["category"],) for g in general),
            membership=membership,
        )


# ----------------------------------------------------------------------------------------------- process caches

_LOCK = threading.Lock()
_SESSIONS: dict[str, Any] = {}
_VERSIONS: dict[str, str] = {}
_TABLE: LabelTable | None = None


def _model_files() -> Any:
    try:
        import photosort_model
    except ImportError as exc:  # pragma: no cover - the ModelLayer is missing from the function
        raise BackendUnavailableError("the photosort_model package (ModelLayer) is not installed") from exc
    return photosort_model


def label_table() -> LabelTable:
    """The label table, read once per process."""
    global _TABLE  # noqa: PLW0603 - per-process cache, like the session
    if _TABLE is None:
        path = _model_files().LABELS
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BackendUnavailableError(f"label table missing: {path}") from exc
        _TABLE = LabelTable.from_json(doc)
    return _TABLE


LAMBDA_MB_PER_VCPU = 1769  # Lambda gives a function one full vCPU at 1769 MB, proportionally less below


def _threads() -> int:
    """Intra-op threads: one per CPU the process may use, at most 4. On Lambda the CPU share follows the memory
    size (a function below 1769 MB has less than one vCPU, so extra threads only contend), not the host's cores."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    memory_mb = os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory_mb.isdigit():
        cpus = min(cpus, int(memory_mb) // LAMBDA_MB_PER_VCPU)
    return max(1, min(cpus, 4))


def _model_version(variant: str, path: Path) -> str:
    sha = None
    provenance = _model_files().PROVENANCE
    try:
        sha = json.loads(provenance.read_text(encoding="utf-8"))["files"][path.name]["sha256"]
    except (OSError, KeyError, ValueError):
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        sha = digest.hexdigest()
    return f"{MODEL_FAMILY}-{variant}-{sha[:8]}"


def get_session(variant: str = "fp32") -> Any:
    """The ONNX Runtime session for ``variant``, created on first use and kept for the life of the process."""
    if variant not in VARIANTS:
        raise BackendUnavailableError(f"unknown local model variant {variant!r}; expected one of {VARIANTS}")
    session = _SESSIONS.get(variant)
    if session is not None:
        return session
    with _LOCK:
        if variant in _SESSIONS:
            return _SESSIONS[variant]
        import onnxruntime as ort

        path = _model_files().model_path(variant)
        if not path.is_file():
            raise BackendUnavailableError(f"model file missing for variant {variant!r}: {path}")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.intra_op_num_threads = _threads()
        options.inter_op_num_threads = 1
        # One image per invocation: don't let idle worker threads spin and burn billed CPU between runs.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise BackendUnavailableError(f"cannot load {path.name}: {exc}") from exc
        _VERSIONS[variant] = _model_version(variant, path)
        _SESSIONS[variant] = session
        return session


# ------------------------------------------------------------------------------------------------ preprocessing


def to_tensor(img: Image) -> np.ndarray:
    """Upright RGB image -> (1, 3, 224, 224) float32: shorter side 256 (bicubic), centre crop, (x-127)/128."""
    from PIL import Image as PILImage

    w, h = img.size
    scale = RESIZE_SHORTER / min(w, h)
    size = (max(IMAGE_SIZE, round(w * scale)), max(IMAGE_SIZE, round(h * scale)))
    left, top = (size[0] - IMAGE_SIZE) // 2, (size[1] - IMAGE_SIZE) // 2
    img = img.resize(size, PILImage.Resampling.BICUBIC).crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    arr = np.asarray(img, dtype=np.float32)  # (224, 224, 3)
    arr = (arr - MEAN_RGB) / STDDEV_RGB
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[np.newaxis])


def preprocess(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Image bytes -> model input. JPEGs are DCT-scaled while decoding to just above 256 on the short side."""
    img = load_rgb(data, max_pixels=max_pixels, draft_size=DECODE_SIZE)
    return to_tensor(img)


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    e = np.exp(z)
    return e / e.sum()


# ---------------------------------------------------------------------------------------------------- labelling


def labels_from_probabilities(
    probs: np.ndarray,
    table: LabelTable,
    *,
    max_labels: int = 20,
    top_classes: int = TOP_CLASSES,
    min_confidence: float = MIN_CONFIDENCE,
) -> tuple[Label, ...]:
    """Turn 1000 class probabilities (0-1) into labels: top classes plus aggregated general labels.

    A general label's confidence is the sum of the probabilities of the classes under it (capped at 100), so
    it is never below any of its classes. Sorted by confidence (ties: general first, then name), deduplicated by
    case-insensitive name (the higher confidence wins), cut to ``max_labels``, dropping anything below
    ``min_confidence`` percent.
    """
    probs = np.asarray(probs, dtype=np.float64).reshape(-1)
    if probs.shape[0] != len(table.class_names):
        raise BackendError(f"model returned {probs.shape[0]} scores, the label table has {len(table.class_names)}")
    percent = probs * 100.0
    candidates: list[tuple[float, int, Label]] = []

    for i in np.argsort(-percent)[:top_classes]:
        conf = float(percent[i])
        if conf < min_confidence:
            break
        label = Label(
            name=table.class_names[i],
            confidence=round(min(conf, 100.0), 2),
            parents=table.class_parents[i],
            categories=table.class_categories[i],
        )
        candidates.append((label.confidence, 1, label))

    general = np.minimum(table.membership.astype(np.float64) @ percent, 100.0)
    for g in np.flatnonzero(general >= min_confidence):
        label = Label(
            name=table.general_names[g],
            confidence=round(float(general[g]), 2),
            parents=table.general_parents[g],
            categories=table.general_categories[g],
        )
        candidates.append((label.confidence, 0, label))

    candidates.sort(key=lambda c: (-c[0], c[1], c[2].name))
    seen: set[str] = set()
    out: list[Label] = []
    for _, _, label in candidates:
        key = label.name.casefold()
        if key in seen:
            continue
        seen.add(key)
        out.append(label)
        if len(out) >= max_labels:
            break
    return tuple(out)


# ------------------------------------------------------------------------------------------------------ backend


class LocalClassifier:
    """ImageNet classification in-process. Construction loads the model (do it once, at handler import)."""

    name = BACKEND_NAME
    decode_size = DECODE_SIZE  # Inspect decodes at this size and hands the frame over (see Classifier)

    def __init__(
        self,
        limits: BackendLimits = DEFAULT_LIMITS,
        *,
        variant: str = "fp32",
        head: HeadSource | None = None,
        detect_faces: bool = True,
    ) -> None:
        self.variant = variant
        self.limits = limits
        self._session = get_session(variant)
        self._table = label_table()
        self.model_version = _VERSIONS[variant]
        # The classifier's own version names its embeddings and the heads trained on them; model_version adds the
        # face detector's family when it runs, since the labels then come from both.
        self.classifier_version = self.model_version
        self._head = head
        if head is not None:  # a missing, invalid or mismatched head fails at start-up, before any photo
            head.current().check_model(self.classifier_version)
        self._faces: FaceDetector | None = None
        if detect_faces:
            # one thread: the detector's networks are too small to split (a second thread costs more CPU time than
            # it saves wall time: bench/faces.py), and on Lambda below 1769 MB there is one CPU or less anyway
            self._faces = FaceDetector(threads=1)
            self.model_version = f"{self.model_version}+{FACES_FAMILY}"

    @property
    def labels_version(self) -> str:
        """The model version a classification made now records: ``model_version`` and the head applied now."""
        if self._head is None:
            return self.model_version
        from photosort.fewshot import tagged

        return tagged(self.model_version, self._head.current())

    def run_model(self, tensor: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One onnxruntime run: (1000 logits, 1280-d pooled features)."""
        try:
            logits, features = self._session.run(None, {INPUT_NAME: tensor})
        except Exception as exc:
            raise BackendError(f"local model failed: {exc}") from exc
        return logits[0], features[0]

    def classify_tensor(self, tensor: np.ndarray) -> Classification:
        logits, features = self.run_model(tensor)
        labels = labels_from_probabilities(softmax(logits), self._table, max_labels=self.limits.max_labels)
        vector = embeddings.normalise(features)
        version = self.classifier_version
        if self._head is not None:  # few-shot labels (photosort.fewshot): re-read when the artifact changes
            from photosort.fewshot import merge_labels, tagged

            head = self._head.current()
            labels = merge_labels(head.labels_for(vector, self.classifier_version), labels, self.limits.max_labels)
            version = tagged(version, head)  # the record says which head (and which training of it) took part
        return Classification(
            labels=labels,
            backend=BACKEND_NAME,
            model_version=version,
            embedding=embeddings.encode(vector, self.classifier_version),
        )

    def classify_bytes(self, data: bytes) -> Classification:
        """Classify raw image bytes. Raises ImageUnusableError if they are not a decodable image.

        The image is decoded once; the classifier and the face detector share it."""
        return self.classify_rgb(load_rgb(data, max_pixels=self.limits.max_pixels, draft_size=DECODE_SIZE))

    def classify_rgb(self, img: Image) -> Classification:
        """Classify what :func:`photosort.imaging.load_rgb` made of an image at ``DECODE_SIZE``."""
        result = self.classify_tensor(to_tensor(img))
        if self._faces is None:
            return result
        faces = to_faces(self._faces.detect(img), img.size)
        head_part = result.model_version.removeprefix(self.classifier_version)  # "" or the head's mark
        return with_faces(result, faces, max_labels=self.limits.max_labels).model_copy(
            update={"model_version": self.model_version + head_part}
        )

    def classify(self, image: ImageInput) -> Classification:
        decoded = image.decoded
        # Inspect's frame, when it was decoded as load_rgb would decode it here: the same size, and a pixel
        # limit no larger than this backend's (so the frame passed this backend's limit as well)
        if decoded is not None and decoded.draft_size == DECODE_SIZE and decoded.max_pixels <= self.limits.max_pixels:
            return self.classify_rgb(rgb_from(decoded.image, DECODE_SIZE))
        return self.classify_bytes(image.read())


_CLASSIFIERS: dict[tuple[str, BackendLimits], LocalClassifier] = {}


def classify_bytes(data: bytes, *, limits: BackendLimits = DEFAULT_LIMITS, variant: str = "fp32") -> Classification:
    """Classify raw image bytes with the local model (used by ``photosort classify``)."""
    key = (variant, limits)
    classifier = _CLASSIFIERS.get(key)
    if classifier is None:
        classifier = _CLASSIFIERS[key] = LocalClassifier(limits, variant=variant)
    return classifier.classify_bytes(data)
