"""The ``local`` backend's model files: EfficientNet-Lite0 (ImageNet-1k) as ONNX plus the label table.

Ships to Lambda in the ``ModelLayer`` (under ``/opt/python/photosort_model``). Paths only: no imports beyond the
standard library, so importing this costs nothing.
"""

from __future__ import annotations

from pathlib import Path

MODEL_DIR = Path(__file__).resolve().parent
MODEL_FILES = {
    "fp32": MODEL_DIR / "efficientnet_lite0.onnx",
    "int8": MODEL_DIR / "efficientnet_lite0_int8.onnx",
}
LABELS = MODEL_DIR / "labels.json"
PROVENANCE = MODEL_DIR / "PROVENANCE.json"
# The MTCNN face detector (photosort.faces): P-Net, R-Net, O-Net, exported from the facenet-pytorch wheel, and
# P-Net at stride 4 (the same weights) for the largest pyramid level.
FACE_MODELS = {net: MODEL_DIR / f"mtcnn_{net}.onnx" for net in ("pnet", "pnet_stride4", "rnet", "onet")}
FACES_PROVENANCE = MODEL_DIR / "FACES_PROVENANCE.json"


def model_path(variant: str = "fp32") -> Path:
    """The ONNX file for ``variant`` ("fp32" or "int8")."""
    try:
        return MODEL_FILES[variant]
    except KeyError:
        raise ValueError(f"unknown model variant {variant!r}; expected one of {sorted(MODEL_FILES)}") from None
