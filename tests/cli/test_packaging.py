"""A non-editable ``pip install .`` ships the packages and their data, and what needs the checkout says so."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

PROBE = """
from photosort.routing import load_rules
from photosort_model import LABELS, PROVENANCE, model_path
from photosort_local.cost.prices import load_prices
from photosort_local.cli import main
assert load_rules("family").rules and load_rules("dealership").rules
assert model_path("fp32").is_file() and LABELS.is_file() and PROVENANCE.is_file()
assert (LABELS.parent / "NOTICE").is_file() and (LABELS.parent / "LICENSE").is_file()
assert load_prices()["region"]
raise SystemExit(main(["demo"]))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("site")
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-compile"]
    subprocess.run(
        [*pip, "--target", str(target), str(REPO)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return target


def test_a_plain_install_ships_the_data_and_the_stack_names_what_it_misses(installed: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=installed,
        env={"PYTHONPATH": str(installed), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stderr
    assert "template.yaml not found" in result.stderr and "pip install -e '.[local]'" in result.stderr
    assert "Traceback" not in result.stderr
