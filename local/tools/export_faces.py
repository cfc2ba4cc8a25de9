"""Export the MTCNN face detector (P-Net, R-Net, O-Net) to ONNX for the ``local`` backend.

Run with the export venv (the only place torch is installed)::

    .venv-export/bin/pip install --no-deps facenet-pytorch==2.6.0
    .venv-export/bin/python local/tools/export_faces.py

Weights: ``pnet.pt``, ``rnet.pt`` and ``onet.pt`` shipped inside the facenet-pytorch 2.6.0 wheel (MIT licence;
Tim Esler's PyTorch port of the MTCNN weights of Zhang et al. 2016, converted from the authors' Caffe models via
David Sandberg's facenet). They are loaded strictly into facenet-pytorch's own ``PNet``/``RNet``/``ONet`` classes.
facenet-pytorch's ``__init__`` imports requests and torchvision, neither needed for the three networks, so the
package is imported with those submodules stubbed out. Nothing is downloaded.

Writes ``layers/model/photosort_model/mtcnn_{pnet,rnet,onet}.onnx`` and ``FACES_PROVENANCE.json`` (file hashes,
source wheel, and the maximum difference between torch and ONNX Runtime on fixed random inputs).
"""

from __future__ import annotations

import json
import sys
import types
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import MODEL_DIR, sha256_file

OPSET = 17
PACKAGE = "facenet-pytorch"
VERSION = "2.6.0"
PROVENANCE = MODEL_DIR / "FACES_PROVENANCE.json"
NETS = {
    # name: (input size or None for fully convolutional, output names)
    "pnet": (None, ("regression", "face_probability")),
    "rnet": (24, ("regression", "face_probability")),
    "onet": (48, ("regression", "landmarks", "face_probability")),
}


def _import_mtcnn() -> types.ModuleType:
    """facenet_pytorch.models.mtcnn without running the package ``__init__`` (requests, torchvision)."""
    import importlib.util

    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{PACKAGE}=={VERSION} is not installed: pip install --no-deps {PACKAGE}=={VERSION}")
    root = Path(next(iter(spec.submodule_search_locations)))
    for name, path in (
        ("facenet_pytorch", root),
        ("facenet_pytorch.models", root / "models"),
        ("facenet_pytorch.models.utils", root / "models" / "utils"),
    ):
        module = types.ModuleType(name)
        module.__path__ = [str(path)]
        sys.modules[name] = module
    stub = types.ModuleType("facenet_pytorch.models.utils.detect_face")
    stub.detect_face = stub.extract_face = None  # type: ignore[attr-defined]
    sys.modules[stub.__name__] = stub
    mtcnn_spec = importlib.util.spec_from_file_location("facenet_pytorch.models.mtcnn", root / "models" / "mtcnn.py")
    if mtcnn_spec is None or mtcnn_spec.loader is None:
        raise SystemExit(f"cannot load {root / 'models' / 'mtcnn.py'}")
    module = importlib.util.module_from_spec(mtcnn_spec)
    mtcnn_spec.loader.exec_module(module)
    return module


def main() -> int:
    import onnxruntime as ort
    import torch

    mtcnn = _import_mtcnn()
    data_dir = Path(str(mtcnn.__file__)).resolve().parent.parent / "data"
    rng = np.random.default_rng(0)
    files: dict[str, dict[str, object]] = {}
    for name, (size, outputs) in NETS.items():
        net = getattr(mtcnn, name[0].upper() + "Net")(pretrained=False)
        weights = data_dir / f"{name}.pt"
        net.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True), strict=True)
        net.eval()
        # ONNX outputs in the order the detector reads them; torch returns (reg, prob) / (reg, landmarks, prob).
        if size is None:
            example = torch.zeros(1, 3, 64, 80)
            axes = {"input": {2: "height", 3: "width"}}
            check = rng.uniform(-1, 1, (1, 3, 97, 131)).astype(np.float32)
        else:
            example = torch.zeros(2, 3, size, size)
            axes = {"input": {0: "batch"}, **{o: {0: "batch"} for o in outputs}}
            check = rng.uniform(-1, 1, (7, 3, size, size)).astype(np.float32)
        out = MODEL_DIR / f"mtcnn_{name}.onnx"
        torch.onnx.export(
            net,
            (example,),
            str(out),
            input_names=["input"],
            output_names=list(outputs),
            dynamic_axes=axes,
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
        with torch.no_grad():
            expected = [t.numpy() for t in net(torch.from_numpy(check))]
        session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
        got = session.run(None, {"input": check})
        diff = max(float(np.abs(a - b).max()) for a, b in zip(expected, got, strict=True))
        print(f"{out.name}: {out.stat().st_size} bytes, max |torch - onnxruntime| = {diff:.2e}")
        if diff > 1e-4:
            raise SystemExit(f"{name}: ONNX output differs from torch by {diff}")
        files[out.name] = {
            "sha256": sha256_file(out),
            "bytes": out.stat().st_size,
            "weights": f"facenet_pytorch/data/{weights.name}",
            "weights_sha256": sha256_file(weights),
            "input": "NCHW float32, RGB, (x - 127.5) / 128" + ("" if size is None else f", {size}x{size}"),
            "outputs": list(outputs),
            "max_abs_diff_vs_torch": diff,
        }
    provenance = {
        "model": "MTCNN (Zhang, Zhang, Li, Qiao 2016: Joint Face Detection and Alignment using Multi-task Cascaded "
        "Convolutional Networks)",
        "task": "face detection: P-Net proposals over an image pyramid, R-Net refinement, O-Net boxes + landmarks",
        "license": "MIT (facenet-pytorch); see layers/model/NOTICE",
        "source": {
            "package": PACKAGE,
            "version": metadata.version(PACKAGE),
            "installed_with": f"pip install --no-deps {PACKAGE}=={VERSION}",
            "origin": "PyTorch port by Tim Esler of the MTCNN Caffe weights (kpzhang93/MTCNN_face_detection_alignment) "
            "as converted in davidsandberg/facenet",
        },
        "export": {
            "tool": "local/tools/export_faces.py",
            "exporter": "torch.onnx.export (TorchScript exporter, dynamo=False)",
            "torch": torch.__version__,
            "onnxruntime": ort.__version__,
            "opset": OPSET,
            "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "runtime": "photosort.faces: image pyramid, box regression and NMS in numpy; onnxruntime only",
        "files": files,
    }
    PROVENANCE.write_text(json.dumps(provenance, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {PROVENANCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
