"""The Lambda layers built for this machine, as the bench and the static tests run the handlers from them.

Each layer is built by its own Makefile with ``TARGET=native`` (the same requirements and the same
``layers/prune.txt`` as ``sam build``, but wheels for this machine rather than arm64), and boto3 is installed
beside them, compiled, standing in for the copy the Lambda Python runtime provides. The layer Makefiles compile
the layers too: ``/opt`` is read-only on Lambda, so nothing could be cached there at run time.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from photosort_local import checkout

LAYERS = {"CoreLayer": "core", "ImagingLayer": "imaging", "ModelLayer": "model"}  # logical id -> layers/<dir>


class LayerBuildError(RuntimeError):
    """A layer's Makefile or the runtime's boto3 install failed; the message carries its output."""


def _run(args: list[str], timeout: float) -> None:
    proc = subprocess.run(args, cwd=checkout.REPO_ROOT, capture_output=True, text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise LayerBuildError(f"{' '.join(args[:6])}... exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}")


def build(root: Path, *, timeout: float = 900) -> dict[str, Path]:
    """Build every layer under ``root``: ``{logical id: its python/ dir, "runtime": boto3's dir}``."""
    out = {}
    for logical_id, name in LAYERS.items():
        makefile = checkout.REPO_ROOT / "layers" / name / "Makefile"
        make = ["make", "--no-print-directory", "-s", "-f", str(makefile), f"build-{logical_id}"]
        _run([*make, f"ARTIFACTS_DIR={root / name}", "TARGET=native", f"PYTHON={sys.executable}"], timeout)
        out[logical_id] = root / name / "python"
    runtime = root / "runtime"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--only-binary=:all:"]
    _run([*pip, "--target", str(runtime), "boto3"], timeout)
    _run([sys.executable, "-m", "compileall", "-q", str(runtime)], timeout)
    out["runtime"] = runtime
    return out
