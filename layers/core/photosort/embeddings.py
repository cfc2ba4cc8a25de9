"""Image embeddings: the classifier's pooled features, kept compact and compared by cosine similarity.

The local model's ONNX graph returns the 1280-d global-average-pooled features next to the logits (one run).
They are L2-normalised and stored as int8 (scaled so the largest component is +-127, rounded; the scale need
not be kept since every comparison normalises again), which keeps the cosine between two photos within about
0.002 of the float32 value while taking 1 byte per dimension.

Comparing stored embeddings (the Record step) needs only the standard library: that function's layers have no
numpy. Encoding (the Classify step, where onnxruntime brings numpy) and :func:`decode` import numpy lazily.
"""

from __future__ import annotations

import base64
import math
import operator
from array import array
from typing import TYPE_CHECKING

from photosort.errors import PhotosortError
from photosort.models import Embedding

if TYPE_CHECKING:
    import numpy as np

INT8_SCALE = 127.0


class EmbeddingMismatchError(PhotosortError):
    """Two embeddings come from different models (or have different sizes) and cannot be compared."""


def normalise(vector: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy (a zero vector stays zero)."""
    import numpy as np

    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def encode(vector: np.ndarray, model_version: str) -> Embedding:
    """Raw features -> the compact stored form."""
    import numpy as np

    v = normalise(vector)
    peak = float(np.abs(v).max()) if v.size else 0.0
    q = np.clip(np.rint(v * (INT8_SCALE / peak if peak > 0 else 0.0)), -127, 127).astype(np.int8)
    return Embedding(model_version=model_version, dim=int(q.shape[0]), data=base64.b64encode(q.tobytes()).decode())


def ints(embedding: Embedding) -> array[int]:
    """The stored int8 components (standard library only)."""
    raw = base64.b64decode(embedding.data)
    if len(raw) != embedding.dim:
        raise PhotosortError(f"embedding has {len(raw)} bytes, expected {embedding.dim}")
    return array("b", raw)


def norm(a: array[int]) -> float:
    return math.sqrt(sum(map(operator.mul, a, a)))


def unit_cosine(a: array[int], b: array[int], *, b_norm: float | None = None) -> float:
    """Cosine similarity of two int8 vectors (0 when either is zero); pass ``b_norm`` when comparing many to b."""
    if len(a) != len(b):
        raise EmbeddingMismatchError(f"embeddings of {len(a)} and {len(b)} dimensions")
    norms = norm(a) * (norm(b) if b_norm is None else b_norm)
    return sum(map(operator.mul, a, b)) / norms if norms else 0.0


def decode(embedding: Embedding) -> np.ndarray:
    """The stored form -> an L2-normalised float32 vector (numpy)."""
    import numpy as np

    return normalise(np.asarray(ints(embedding), dtype=np.float32))


def cosine(a: Embedding, b: Embedding) -> float:
    if a.model_version != b.model_version:
        raise EmbeddingMismatchError(f"embeddings from {a.model_version!r} and {b.model_version!r} differ in model")
    return unit_cosine(ints(a), ints(b))
