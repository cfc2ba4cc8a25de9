"""ruff (the rules configured in pyproject.toml) finds nothing in the project's Python, its formatter changes
nothing, and mypy (configured there too) finds nothing in layers/, functions/ and local/."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"
TREES = ["layers", "functions", "local", "tests", "bench"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(RUFF), *args, *TREES]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120, check=False)


def test_ruff_finds_nothing() -> None:
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing() -> None:
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, "run `.venv/bin/ruff format` :\n" + result.stdout + result.stderr


def test_mypy_finds_nothing() -> None:
    """Strict mypy over layers/, functions/ and local/ (the files and options are in pyproject.toml)."""
    mypy = Path(sys.executable).parent / "mypy"
    result = subprocess.run([str(mypy)], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
