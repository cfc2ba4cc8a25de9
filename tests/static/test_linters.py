"""cfn-lint (+ serverless rules), checkov, `sam validate --lint` and `sam build` on template.yaml.

checkov lives in its own venv (.venv-checkov, pinned in .ci/checkov-requirements.txt; `make test` creates
it) because resolving it together with aws-sam-cli backtracks for a very long time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "template.yaml"
BIN = Path(sys.executable).parent  # the main venv's bin: cfn-lint, sam and python3.13 live here
CHECKOV = REPO / ".venv-checkov" / "bin" / "checkov"
CHECKOV_REQUIREMENTS = REPO / ".ci" / "checkov-requirements.txt"

FUNCTIONS = ("InspectFunction", "ClassifyFunction", "RecordFunction", "SortFunction", "QuarantineFunction")
# Layer -> paths (relative to the layer's python/ dir) that `sam build` must produce.
LAYER_CONTENTS = {
    "CoreLayer": ["photosort/pipeline.py", "photosort/rules/family.json", "pydantic", "aws_lambda_powertools"],
    "ImagingLayer": ["PIL", "pillow_heif"],
    "ModelLayer": ["photosort_model/efficientnet_lite0.onnx", "onnxruntime", "numpy"],
}
ELF_MACHINE_AARCH64 = 183


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '')}"  # sam build's python3.13 workflow needs it on PATH
    env["SAM_CLI_TELEMETRY"] = "0"
    env["BC_SKIP_MAPPING"] = "TRUE"  # checkov: no call home for guideline mappings
    return env


def _run(args: list[str], timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=timeout, check=False)


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"$ {' '.join(map(str, proc.args))}\nexit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_cfn_lint_with_serverless_rules() -> None:
    # cfn-lint v1: -a/--append-rules takes several values, so the template goes first.
    proc = _run([str(BIN / "cfn-lint"), str(TEMPLATE), "--append-rules", "cfn_lint_serverless.rules"])
    assert proc.returncode == 0, _report(proc)


def test_checkov() -> None:
    if not CHECKOV.exists():
        pytest.fail(
            f"{CHECKOV} is missing. Create it with `make .venv-checkov/.installed-stamp` (or `make test`), "
            f"i.e. python3.13 -m venv .venv-checkov && .venv-checkov/bin/pip install -r {CHECKOV_REQUIREMENTS.name}"
        )
    pinned = next(
        line.split("==", 1)[1].strip()
        for line in CHECKOV_REQUIREMENTS.read_text().splitlines()
        if line.startswith("checkov==")
    )
    version = _run([str(CHECKOV), "--version"]).stdout.strip()
    assert version == pinned, f".venv-checkov has checkov {version}, {CHECKOV_REQUIREMENTS.name} pins {pinned}"
    # checkov reads SAM templates with its cloudformation framework ("serverless" means serverless.yml).
    proc = _run(
        [str(CHECKOV), "-f", str(TEMPLATE), "--framework", "cloudformation", "--skip-download", "--output", "json"]
    )
    try:
        result: dict[str, Any] = json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(_report(proc))
    summary = result["summary"]
    failed = [
        f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in result["results"].get("failed_checks", [])
    ]
    assert proc.returncode == 0 and not failed, "checkov findings:\n" + "\n".join(failed) + "\n" + proc.stderr
    assert summary["passed"] > 0 and summary["parsing_errors"] == 0, summary


def test_sam_validate_lint() -> None:
    proc = _run([str(BIN / "sam"), "validate", "--lint", "--template-file", str(TEMPLATE)])
    assert proc.returncode == 0, _report(proc)


@pytest.fixture(scope="session")
def sam_build_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` per session (downloads the arm64 wheels from PyPI; a minute or two)."""
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    proc = _run(
        [
            str(BIN / "sam"),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
        ],
        timeout=540,
    )
    assert proc.returncode == 0, _report(proc)
    return build_dir


def test_sam_build_writes_a_deployable_template(sam_build_dir: Path) -> None:
    assert (sam_build_dir / "template.yaml").is_file()


@pytest.mark.parametrize("fn", FUNCTIONS)
def test_sam_build_packages_each_function(sam_build_dir: Path, fn: str) -> None:
    assert (sam_build_dir / fn / "app.py").is_file()


@pytest.mark.parametrize("layer", sorted(LAYER_CONTENTS))
def test_sam_build_packages_each_layer(sam_build_dir: Path, layer: str) -> None:
    python = sam_build_dir / layer / "python"
    assert python.is_dir(), f"{layer} has no python/ dir"
    missing = [p for p in LAYER_CONTENTS[layer] if not (python / p).exists()]
    assert not missing, f"{layer} lacks {missing}; has {sorted(x.name for x in python.iterdir())}"


@pytest.mark.parametrize("package", ["onnxruntime", "PIL", "numpy"])
def test_sam_build_native_code_is_arm64(sam_build_dir: Path, package: str) -> None:
    found = sorted(sam_build_dir.glob(f"*/python/{package}/**/*.so"))
    assert found, f"no extension modules for {package}"
    for so in found:
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, so
