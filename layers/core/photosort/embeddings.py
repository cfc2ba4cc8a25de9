"""Image embeddings: the classifier's pooled features, kept compact and compared by cosine similarity.

The local model's ONNX graph returns the 1280-d global-average-pooled features next to the logits (one run).
They are L2-normalised and stored as int8 (scaled so the largest component is +-127, rounded; the scale need
not be kept since decoding normalises again), which keeps the cosine between two photos within about 0.002 of
the float32 value while taking 1 byte per dimension.
"""

from __future__ import annotations

import base64

import numpy as np

from photosort.errors import PhotosortError
from photosort.models import Embedding

INT8_SCALE = 127.0


class EmbeddingMismatchError(PhotosortError):
    """Two embeddings (or an embedding and a head) come from different models and cannot be compared."""


def normalise(vector: np.ndarray) -> np.ndarray:
    """L2-normalised float32 copy (a zero vector stays zero)."""
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    norm = float(np.linalg.norm(v))
    return v / norm if norm > 0 else v


def encode(vector: np.ndarray, model_version: str) -> Embedding:
    """Raw features -> the compact stored form."""
    v = normalise(vector)
    peak = float(np.abs(v).max()) if v.size else 0.0
    q = np.clip(np.rint(v * (INT8_SCALE / peak if peak > 0 else 0.0)), -127, 127).astype(np.int8)
    return Embedding(model_version=model_version, dim=int(q.shape[0]), data=base64.b64encode(q.tobytes()).decode())


def decode(embedding: Embedding) -> np.ndarray:
    """The stored form -> an L2-normalised float32 vector."""
    raw = base64.b64decode(embedding.data)
    if len(raw) != embedding.dim:
        raise PhotosortError(f"embedding has {len(raw)} bytes, expected {embedding.dim}")
    return normalise(np.frombuffer(raw, dtype=np.int8).astype(np.float32))


def cosine(a: Embedding, b: Embedding) -> float:
    if a.model_version != b.model_version:
        raise EmbeddingMismatchError(f"embeddings from {a.model_version!r} and {b.model_version!r} differ in model")
    return float(decode(a) @ decode(b))
