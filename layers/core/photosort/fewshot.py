"""Few-shot label heads: your own labels, learnt from a folder of examples, on top of the local model's embedding.

A head is a small linear classifier (multinomial logistic regression, or nearest centroid) over the
L2-normalised 1280-d embedding. It is trained by ``photosort labels train`` and stored as one JSON artifact
(labels, weights, the model version it was trained on, its measured cross-validated accuracy). Applying it
needs numpy only: one matrix-vector product and a softmax.

A head trained on one model version is refused by any other (:class:`HeadModelMismatchError`): embeddings of
different models (or of the fp32 and int8 variants) live in different spaces.

Where a function finds its head (``PHOTOSORT_LABEL_HEAD``): a file path, or ``s3://bucket/key``. Both are
re-read when they change (a file by its mtime and size; S3 through a Powertools Parameters provider cached
for ``PHOTOSORT_LABEL_HEAD_MAX_AGE`` seconds), so a retrained head is picked up without a redeploy.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from photosort.errors import ConfigurationError, describe_validation
from photosort.models import Label

FORMAT = "photosort-label-head"
FORMAT_VERSION = 1
METHODS = ("logistic-regression", "nearest-centroid")
HEAD_CATEGORY = "Custom"  # category of every label a head emits
CENTROID_SCALE = 20.0  # softmax temperature for nearest-centroid cosine scores (cos 1.0 vs 0.9 -> e^2 odds)
MIN_HEAD_CONFIDENCE = 1.0  # percent: head labels below this are not emitted
HEAD_MARK = "+head:"  # model_version of labels a head took part in: "<model>[+faces]+head:<name>@<version>"


class HeadModelMismatchError(ConfigurationError):
    """The label head was trained on embeddings of another model version; retrain it on this one."""


class HeadUnavailableError(ConfigurationError):
    """The label head named by the configuration cannot be read or is not a valid head artifact."""


class _Artifact(BaseModel):
    """The JSON artifact, validated before use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["photosort-label-head"]
    format_version: int = Field(ge=1, le=FORMAT_VERSION)
    name: str = Field(min_length=1, max_length=63)
    version: str
    created_at: str
    model_version: str
    method: Literal["logistic-regression", "nearest-centroid"]
    labels: tuple[str, ...] = Field(min_length=2)
    dim: int = Field(ge=1)
    weights: list[list[float]]
    bias: list[float]
    examples_per_label: dict[str, int] = {}
    accuracy: dict[str, Any] = {}


@dataclass(frozen=True)
class LabelHead:
    name: str
    labels: tuple[str, ...]
    model_version: str
    method: str
    weights: np.ndarray  # (n_labels, dim) float32
    bias: np.ndarray  # (n_labels,) float32
    version: str = ""
    created_at: str = ""
    examples_per_label: dict[str, int] = field(default_factory=dict)
    accuracy: dict[str, Any] = field(default_factory=dict)

    @property
    def dim(self) -> int:
        return int(self.weights.shape[1])

    @property
    def ident(self) -> str:
        """``name@version``: which head, and which training of it (the version hashes its weights)."""
        return f"{self.name}@{self.version}"

    def probabilities(self, vector: np.ndarray) -> np.ndarray:
        """Label probabilities (0-1) for one L2-normalised embedding."""
        v = np.asarray(vector, dtype=np.float32).reshape(-1)
        if v.shape[0] != self.dim:
            raise HeadModelMismatchError(
                f"label head {self.name!r} expects {self.dim}-d embeddings, got {v.shape[0]}-d"
            )
        return _softmax(self.weights @ v + self.bias)

    def check_model(self, model_version: str) -> None:
        if model_version != self.model_version:
            raise HeadModelMismatchError(
                f"label head {self.name!r} (version {self.version}) was trained on model {self.model_version!r}, "
                f"but this function runs {model_version!r}: retrain it with `photosort labels train`"
            )

    def labels_for(self, vector: np.ndarray, model_version: str) -> tuple[Label, ...]:
        """The head's labels for one embedding, most likely first, each with its confidence in percent."""
        self.check_model(model_version)
        probs = self.probabilities(vector)
        out = []
        for i in np.argsort(-probs):
            confidence = round(float(probs[i]) * 100.0, 2)
            if confidence < MIN_HEAD_CONFIDENCE:
                break
            out.append(Label(name=self.labels[i], confidence=confidence, parents=(), categories=(HEAD_CATEGORY,)))
        return tuple(out)

    # -- the artifact -----------------------------------------------------------------------------------
    def to_json(self) -> str:
        doc = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": self.name,
            "version": self.version,
            "created_at": self.created_at,
            "model_version": self.model_version,
            "method": self.method,
            "labels": list(self.labels),
            "dim": self.dim,
            "weights": [[round(float(w), 6) for w in row] for row in self.weights],
            "bias": [round(float(b), 6) for b in self.bias],
            "examples_per_label": self.examples_per_label,
            "accuracy": self.accuracy,
        }
        return json.dumps(doc, separators=(",", ":")) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, source: str = "label head") -> LabelHead:
        try:
            doc = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise HeadUnavailableError(f"{source}: not valid JSON: {exc}") from exc
        try:
            art = _Artifact.model_validate(doc)
        except ValidationError as exc:
            raise HeadUnavailableError(
                f"{source}: not a label head: {describe_validation(exc, '(top level)')}"
            ) from exc
        weights = np.asarray(art.weights, dtype=np.float32)
        bias = np.asarray(art.bias, dtype=np.float32)
        if weights.shape != (len(art.labels), art.dim) or bias.shape != (len(art.labels),):
            raise HeadUnavailableError(
                f"{source}: weights {weights.shape} / bias {bias.shape} do not fit {len(art.labels)} labels x {art.dim}"
            )
        if not (np.isfinite(weights).all() and np.isfinite(bias).all()):
            raise HeadUnavailableError(f"{source}: weights are not finite")
        return cls(
            name=art.name,
            labels=art.labels,
            model_version=art.model_version,
            method=art.method,
            weights=weights,
            bias=bias,
            version=art.version,
            created_at=art.created_at,
            examples_per_label=art.examples_per_label,
            accuracy=art.accuracy,
        )


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


# ---------------------------------------------------------------------------------------------------- training


def fit(
    vectors: np.ndarray, targets: np.ndarray, n_labels: int, *, method: str = "logistic-regression", l2: float = 1e-3
) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of a head from L2-normalised ``vectors`` (n, dim) and integer ``targets`` (n,)."""
    if method not in METHODS:
        raise ConfigurationError(f"unknown head method {method!r}; expected one of {METHODS}")
    x = np.asarray(vectors, dtype=np.float64)
    y = np.asarray(targets, dtype=np.int64)
    missing = sorted(set(range(n_labels)) - set(y.tolist()))
    if missing:
        raise ConfigurationError(f"no training examples for label index(es) {missing}")
    if method == "nearest-centroid":
        centroids = np.stack([x[y == k].mean(axis=0) for k in range(n_labels)])
        centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
        return (CENTROID_SCALE * centroids).astype(np.float32), np.zeros(n_labels, dtype=np.float32)
    # Multinomial logistic regression, full-batch gradient descent with Adam; inputs are unit vectors, so a
    # fixed step size and a few hundred steps converge on folders of a few to a few thousand photos.
    n, d = x.shape
    onehot = np.eye(n_labels)[y]
    w = np.zeros((n_labels, d))
    b = np.zeros(n_labels)
    m_w, v_w, m_b, v_b = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    lr, beta1, beta2, eps = 0.05, 0.9, 0.999, 1e-8
    for step in range(1, 501):
        p = _softmax(x @ w.T + b)
        g = (p - onehot) / n
        grad_w = g.T @ x + l2 * w
        grad_b = g.sum(axis=0)
        m_w = beta1 * m_w + (1 - beta1) * grad_w
        v_w = beta2 * v_w + (1 - beta2) * grad_w**2
        m_b = beta1 * m_b + (1 - beta1) * grad_b
        v_b = beta2 * v_b + (1 - beta2) * grad_b**2
        w -= lr * (m_w / (1 - beta1**step)) / (np.sqrt(v_w / (1 - beta2**step)) + eps)
        b -= lr * (m_b / (1 - beta1**step)) / (np.sqrt(v_b / (1 - beta2**step)) + eps)
    return w.astype(np.float32), b.astype(np.float32)


@dataclass(frozen=True)
class CrossValidation:
    labels: tuple[str, ...]
    folds: int
    confusion: np.ndarray  # (n_labels, n_labels) int: row = true label, column = predicted
    method: str

    @property
    def accuracy(self) -> float:
        total = int(self.confusion.sum())
        return float(np.trace(self.confusion)) / total if total else 0.0

    @property
    def per_label(self) -> dict[str, float]:
        rows = self.confusion.sum(axis=1)
        return {
            label: (float(self.confusion[i, i]) / float(rows[i]) if rows[i] else 0.0)
            for i, label in enumerate(self.labels)
        }

    def summary(self) -> dict[str, Any]:
        return {
            "cross_validated": round(self.accuracy, 4),
            "folds": self.folds,
            "examples": int(self.confusion.sum()),
            "per_label": {k: round(v, 4) for k, v in self.per_label.items()},
            "method": self.method,
        }


def stratified_folds(targets: np.ndarray, folds: int, *, seed: int = 0) -> np.ndarray:
    """Fold number of every example: each label's examples are shuffled and dealt round-robin."""
    y = np.asarray(targets)
    rng = np.random.RandomState(seed)  # legacy generator: its stream is frozen across numpy versions
    fold_of = np.zeros(len(y), dtype=np.int64)
    offset = 0
    for k in np.unique(y):
        idx = np.flatnonzero(y == k)
        rng.shuffle(idx)
        fold_of[idx] = (np.arange(len(idx)) + offset) % folds
        offset += len(idx)
    return fold_of


def cross_validate(
    vectors: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    *,
    method: str = "logistic-regression",
    folds: int = 5,
    seed: int = 0,
) -> CrossValidation:
    """Stratified k-fold cross-validation (k = ``folds``, or the smallest label count if smaller, at least 2)."""
    y = np.asarray(targets, dtype=np.int64)
    counts = np.bincount(y, minlength=len(labels))
    if counts.min() < 2:
        small = [labels[int(i)] for i in np.flatnonzero(counts < 2)]
        raise ConfigurationError(f"cross-validation needs at least 2 examples per label; too few for {small}")
    k = max(2, min(folds, int(counts.min())))
    fold_of = stratified_folds(y, k, seed=seed)
    confusion = np.zeros((len(labels), len(labels)), dtype=np.int64)
    x = np.asarray(vectors, dtype=np.float32)
    for f in range(k):
        test = fold_of == f
        w, b = fit(x[~test], y[~test], len(labels), method=method)
        predicted = np.argmax(x[test] @ w.T + b, axis=1)
        for t, p in zip(y[test], predicted, strict=True):
            confusion[t, p] += 1
    return CrossValidation(labels=tuple(labels), folds=k, confusion=confusion, method=method)


def train_head(
    name: str,
    vectors: np.ndarray,
    targets: np.ndarray,
    labels: Sequence[str],
    model_version: str,
    *,
    method: str = "logistic-regression",
    folds: int = 5,
    cv: CrossValidation | None = None,
) -> LabelHead:
    """Cross-validate (unless ``cv`` is given), then fit on every example; the artifact records the accuracy."""
    if cv is None:
        cv = cross_validate(vectors, targets, labels, method=method, folds=folds)
    w, b = fit(vectors, targets, len(labels), method=method)
    counts = np.bincount(np.asarray(targets), minlength=len(labels))
    digest = hashlib.sha256(w.tobytes() + b.tobytes() + model_version.encode() + "\n".join(labels).encode())
    return LabelHead(
        name=name,
        labels=tuple(labels),
        model_version=model_version,
        method=method,
        weights=w,
        bias=b,
        version=digest.hexdigest()[:12],
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        examples_per_label={label: int(c) for label, c in zip(labels, counts, strict=True)},
        accuracy=cv.summary(),
    )


# ------------------------------------------------------------------------------------------------ head source


def _s3_provider(client: Any) -> Any:
    """A Powertools Parameters provider reading S3 objects (cached per ``max_age`` like the SSM provider)."""
    from aws_lambda_powertools.utilities.parameters.base import BaseProvider

    class S3Provider(BaseProvider):
        def __init__(self, s3: Any) -> None:
            super().__init__(client=s3)  # type: ignore[no-untyped-call]  # Powertools' BaseProvider
            self._s3 = s3

        def _get(self, name: str, **sdk_options: Any) -> str:
            bucket, _, key = name.removeprefix("s3://").partition("/")
            body = self._s3.get_object(Bucket=bucket, Key=key, **sdk_options)["Body"]
            with body:
                return str(body.read().decode("utf-8"))

        def _get_multiple(self, path: str, **sdk_options: Any) -> dict[str, str]:
            raise NotImplementedError("a label head is one object")

    return S3Provider(client)


class HeadSource:
    """The head a function applies, re-read when it changes (see the module docstring)."""

    def __init__(self, uri: str, *, max_age: int = 300, client_factory: Callable[[str], Any] | None = None) -> None:
        self.uri = uri
        self._max_age = max_age
        self._lock = threading.Lock()
        self._cached: tuple[object, LabelHead] | None = None
        self._provider: Any = None
        if uri.startswith("s3://"):
            bucket, _, key = uri.removeprefix("s3://").partition("/")
            if not bucket or not key:
                raise ConfigurationError(f"label head {uri!r}: expected s3://bucket/key")
            if client_factory is None:
                raise ConfigurationError("an S3 label head needs an S3 client")
            self._provider = _s3_provider(client_factory("s3"))

    def current(self) -> LabelHead:
        if self._provider is not None:
            try:
                text = self._provider.get(self.uri, max_age=self._max_age)
            except Exception as exc:
                raise HeadUnavailableError(f"label head {self.uri}: cannot read it: {exc}") from exc
            token: object = text
        else:
            try:
                st = os.stat(self.uri)
            except OSError as exc:
                raise HeadUnavailableError(f"label head {self.uri}: cannot read it: {exc}") from exc
            token = (st.st_mtime_ns, st.st_size)
            text = None
        with self._lock:
            if self._cached is not None and self._cached[0] == token:
                return self._cached[1]
            if text is None:
                try:
                    with open(self.uri, encoding="utf-8") as fh:
                        text = fh.read()
                except OSError as exc:
                    raise HeadUnavailableError(f"label head {self.uri}: cannot read it: {exc}") from exc
            head = LabelHead.from_json(str(text), source=f"label head {self.uri}")
            self._cached = (token, head)
            return head


def tagged(model_version: str, head: LabelHead | None) -> str:
    """The model version of labels ``head`` took part in (unchanged without a head).

    A record's ``model_version`` so says which head made its labels, and a reclassify redoes a record whose head
    differs from the one configured now (:func:`photosort.backfill.is_current`)."""
    return model_version if head is None else f"{model_version}{HEAD_MARK}{head.ident}"


def head_of(model_version: str | None) -> str | None:
    """The ``name@version`` of the head a model version names (see :func:`tagged`), or None."""
    if not model_version or HEAD_MARK not in model_version:
        return None
    return model_version.rsplit(HEAD_MARK, 1)[1] or None


def merge_labels(head_labels: Sequence[Label], labels: Sequence[Label], max_labels: int) -> tuple[Label, ...]:
    """Head labels first (they are what the user asked for), then the model's, cut to ``max_labels``."""
    seen = {label.name.casefold() for label in head_labels}
    rest = [label for label in labels if label.name.casefold() not in seen]
    return (tuple(head_labels) + tuple(rest))[:max_labels]
