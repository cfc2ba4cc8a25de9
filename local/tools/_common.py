"""Shared bits of the model tools: where things are, the preprocessing constants, the sample photos.

Plain numpy + Pillow, no torch and no photosort import (the export venv has neither pydantic nor the layers on
its path). The runtime copy of these constants lives in ``photosort.backends.local``; ``check_model.py`` and
``tests/model/test_local_backend.py`` keep the two honest.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "local"))  # the tools run in a venv where photosort_local is not installed

from photosort_local.samples import SAMPLES, SampleNotFoundError, find_sample  # noqa: E402

MODEL_DIR = REPO / "layers" / "model" / "photosort_model"
FP32_ONNX = MODEL_DIR / "efficientnet_lite0.onnx"
INT8_ONNX = MODEL_DIR / "efficientnet_lite0_int8.onnx"
PROVENANCE = MODEL_DIR / "PROVENANCE.json"
LABELS = MODEL_DIR / "labels.json"

# EfficientNet-Lite preprocessing, from tensorflow/tpu models/official/efficientnet/lite/efficientnet_lite_builder.py
# ("Edge models use inception-style MEAN and STDDEV for better post-quantization"): applied to 0-255 RGB.
MEAN_RGB = (127.0, 127.0, 127.0)
STDDEV_RGB = (128.0, 128.0, 128.0)
IMAGE_SIZE = 224  # efficientnet_lite_params('efficientnet-lite0') resolution
CROP_PADDING = 32  # TF eval: centre crop of IMAGE_SIZE/(IMAGE_SIZE+32) of the shorter side = resize 256, crop 224
RESIZE_SHORTER = IMAGE_SIZE + CROP_PADDING


def sample_photos() -> dict[str, Path]:
    """Real photos shipped inside installed packages (the list lives in photosort_local.samples)."""
    found: dict[str, Path] = {}
    for name in SAMPLES:
        try:
            found[name] = find_sample(name)
        except SampleNotFoundError:
            continue
    return found


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def preprocess(path: Path) -> np.ndarray:
    """Photo file -> (1, 3, 224, 224) float32: shorter side 256 (bicubic), centre crop 224, (x - 127) / 128."""
    from PIL import Image, ImageOps

    with Image.open(path) as opened:
        img = ImageOps.exif_transpose(opened).convert("RGB")
    w, h = img.size
    scale = RESIZE_SHORTER / min(w, h)
    img = img.resize((max(IMAGE_SIZE, round(w * scale)), max(IMAGE_SIZE, round(h * scale))), Image.Resampling.BICUBIC)
    w, h = img.size
    left, top = (w - IMAGE_SIZE) // 2, (h - IMAGE_SIZE) // 2
    img = img.crop((left, top, left + IMAGE_SIZE, top + IMAGE_SIZE))
    arr = (np.asarray(img, dtype=np.float32) - np.array(MEAN_RGB, dtype=np.float32)) / np.array(
        STDDEV_RGB, dtype=np.float32
    )
    return np.ascontiguousarray(arr.transpose(2, 0, 1)[None])


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
