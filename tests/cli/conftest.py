"""Helpers for the CLI tests: run ``photosort`` in-process and copy the bundled sample photos."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from photosort_local.cli import main
from photosort_local.samples import find_sample


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):
    """``cli("demo", "--json")`` runs main() in this process and returns its exit code and output."""

    def run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


@pytest.fixture
def copy_sample():
    """``copy_sample("chelsea", path)`` copies a bundled sample photo to ``path`` (folders created)."""

    def copy(name: str, target: Path) -> Path:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(find_sample(name), target)
        return target

    return copy
