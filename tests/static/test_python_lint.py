"""ruff (the rules configured in pyproject.toml) finds nothing in the project's Python, and its formatter changes nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RUFF = Path(sys.executable).parent / "ruff"
TREES = ["layers", "functions", "local", "tests", "bench"]


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(RUFF), *args, *TREES], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_ruff_finds_nothing() -> None:
    result = _ruff("check", "--no-cache")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_changes_nothing() -> None:
    result = _ruff("format", "--check", "--no-cache")
    assert result.returncode == 0, "run `.venv/bin/ruff format` :\n" + result.stdout + result.stderr
