"""Runs in .venv-export (Python 3.11 + torch): time the reference PyTorch eager EfficientNet-Lite0.

Not imported by the main venv. Usage: ``python _torch_ref.py INPUT.npy OUTPUT.json [--threads N] [--budget S]``.
Loads the same weights export_model.py exported to ONNX (local/tools/export_model.py:load_torch_model), runs
batch 1 at 224x224 in eval mode under ``torch.inference_mode()``, and writes timing plus the logits for the given
input so the caller can check both runtimes compute the same thing.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "local" / "tools"))


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--budget", type=float, default=6.0)
    parser.add_argument("--blocks", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import torch
    from export_model import load_torch_model

    if args.threads:
        torch.set_num_threads(args.threads)
    model, _weights = load_torch_model()
    x = torch.from_numpy(np.load(args.input))
    with torch.inference_mode():
        t0 = time.perf_counter()
        logits = model(x)
        first_ms = (time.perf_counter() - t0) * 1000.0
        # Eager torch takes ~10 calls to reach steady state here (allocator and oneDNN warm-up): skip them.
        for _ in range(12):
            logits = model(x)
        blocks: list[list[float]] = []
        for _ in range(args.blocks):
            samples: list[float] = []
            start = time.perf_counter()
            while len(samples) < 5 or (time.perf_counter() - start < args.budget / args.blocks and len(samples) < 200):
                t0 = time.perf_counter()
                logits = model(x)
                samples.append((time.perf_counter() - t0) * 1000.0)
            blocks.append(samples)
    every = [s for b in blocks for s in b]
    Path(args.output).write_text(
        json.dumps(
            {
                "torch": torch.__version__,
                "threads": torch.get_num_threads(),
                "median_ms": min(statistics.median(b) for b in blocks),  # lowest block median, like bench.measure
                "median_all_ms": statistics.median(every),
                "first_call_ms": first_ms,
                "min_ms": min(every),
                "runs": len(every),
                "logits": logits.numpy().reshape(-1).tolist(),
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
