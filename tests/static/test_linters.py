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

FUNCTIONS = ("ClassifyFunction", "RecordFunction", "SortFunction", "QuarantineFunction")
# Layer -> paths (relative to the layer's python/ dir) that `sam build` must produce.
LAYER_CONTENTS = {
    "CoreLayer": [
        "photosort/pipeline.py",
        "photosort/__pycache__/pipeline.cpython-313.pyc",
        "photosort/rules/family.json",
        "pydantic",
        "pydantic_core",
        "aws_lambda_powertools",
        "aws_xray_sdk",
        "wrapt",
        "jmespath",
    ],
    "ImagingLayer": [
        "PIL/_imaging.cpython-313-aarch64-linux-gnu.so",
        "PIL/_webp.cpython-313-aarch64-linux-gnu.so",
        "PIL/_avif.cpython-313-aarch64-linux-gnu.so",
        "pi_heif",
    ],
    "ModelLayer": [
        "photosort_model/efficientnet_lite0.onnx",
        "photosort_model/labels.json",
        "photosort_model/PROVENANCE.json",
        "photosort_model/mtcnn_pnet.onnx",
        "photosort_model/mtcnn_pnet_stride4.onnx",
        "photosort_model/mtcnn_rnet.onnx",
        "photosort_model/mtcnn_onet.onnx",
        "photosort_model/FACES_PROVENANCE.json",
        "photosort_model/NOTICE",  # the weights' attribution and licence travel with them
        "photosort_model/LICENSE",
        "onnxruntime/capi/onnxruntime_pybind11_state.cpython-313-aarch64-linux-gnu.so",
        "numpy/linalg",
    ],
}
# Globs (relative to python/) that layers/prune.txt removes and that must stay out of the build: the runtime's
# boto3/botocore, onnxruntime's unused deps/tooling/C API library, numpy's tests and lazily loaded subpackages.
LAYER_ABSENT = {
    "CoreLayer": ["boto3", "botocore", "s3transfer", "urllib3", "dateutil", "six.py", "wrapt-stubs", "**/*.pyi"],
    "ImagingLayer": ["PIL/_imagingft.*.so", "pillow.libs/libfreetype-*", "PIL/_imagingtk.*.so", "pillow_heif"],
    "ModelLayer": [
        "google",
        "packaging",
        "flatbuffers",
        "onnxruntime/capi/libonnxruntime.so*",
        "onnxruntime/transformers",
        "onnxruntime/quantization",
        "onnxruntime/tools",
        "numpy/**/tests",
        "numpy/random",
        "numpy/f2py",
        "photosort_model/efficientnet_lite0_int8.onnx",
    ],
}
CLASSIFY_TARGET_MB = 125.0  # classify + its layers, unzipped: half of Lambda's 250 MB limit
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
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in result["results"].get("failed_checks", [])]
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


@pytest.mark.parametrize("layer", sorted(LAYER_ABSENT))
def test_sam_build_prunes_each_layer(sam_build_dir: Path, layer: str) -> None:
    python = sam_build_dir / layer / "python"
    present = [str(p.relative_to(python)) for pattern in LAYER_ABSENT[layer] for p in python.glob(pattern)]
    assert not present, f"{layer} still ships {present[:20]} (layers/prune.txt)"


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_sam_build_classify_and_its_layers_are_under_target(sam_build_dir: Path) -> None:
    parts = ["ClassifyFunction", "CoreLayer", "ImagingLayer", "ModelLayer"]
    sizes = {name: _du(sam_build_dir / name) / 1e6 for name in parts}
    total = sum(sizes.values())
    assert total < CLASSIFY_TARGET_MB, f"classify + layers {total:.1f} MB unzipped >= {CLASSIFY_TARGET_MB} MB: {sizes}"


@pytest.mark.parametrize("package", ["onnxruntime", "PIL", "numpy"])
def test_sam_build_native_code_is_arm64(sam_build_dir: Path, package: str) -> None:
    found = sorted(sam_build_dir.glob(f"*/python/{package}/**/*.so"))
    assert found, f"no extension modules for {package}"
    for so in found:
        header = so.read_bytes()[:20]
        assert header[:4] == b"\x7fELF" and int.from_bytes(header[18:20], "little") == ELF_MACHINE_AARCH64, so


# ------------------------------------------------------------------------------------ pruned layers still work
# The arm64 build cannot run here, so the layer Makefiles build the same requirements for this machine
# (TARGET=native) and apply the same layers/prune.txt; then, for each function, a fresh interpreter without
# site-packages (-S) sees only the function dir, its layers and a boto3 install standing in for the Lambda
# runtime's, imports the handler (model session included) and runs what the handler runs.

FUNCTION_LAYERS = {
    "classify": ["CoreLayer", "ImagingLayer", "ModelLayer"],
    "record": ["CoreLayer"],
    "sort": ["CoreLayer"],
    "quarantine": ["CoreLayer"],
}
EVENTS = {
    "classify": (
        "s3_object_created.json",
        "aws_lambda_powertools.utilities.parser.models",
        "S3EventNotificationEventBridgeModel",
    ),
    "record": ("record.json", "photosort.models", "RecordInput"),
    "sort": ("sort.json", "photosort.models", "SortInput"),
    "quarantine": ("quarantine.json", "photosort.models", "QuarantineInput"),
}
FORMATS = {
    "JPEG": "jpg",
    "PNG": "png",
    "GIF": "gif",
    "WEBP": "webp",
    "TIFF": "tiff",
    "BMP": "bmp",
    "HEIF": "heic",
    "AVIF": "avif",
}

_HANDLER_PROBE = r"""
import importlib, json, sys
from pathlib import Path
fn, event_file, model_module, model_name, photos = sys.argv[1:6]
import app
from aws_lambda_powertools.utilities.parser import parse
model = getattr(importlib.import_module(model_module), model_name)
parsed = parse(event=json.loads(Path(event_file).read_text()), model=model)
app.logger.info("probe", event=parsed)
metrics = getattr(app, "metrics", None)
if metrics is None:  # a step that emits no metrics: the layer must still carry Powertools Metrics for the others
    from aws_lambda_powertools import Metrics
    metrics = Metrics()
metrics.add_metric(name="Probe", unit="Count", value=1)
metrics.flush_metrics()
out = {}
for photo in sorted(Path(photos).iterdir()):
    data = photo.read_bytes()
    if fn == "classify":  # Classify inspects too
        from photosort import imaging
        out[photo.name] = [imaging.inspect_image(data).format, app.backend.classify_bytes(data).labels[0].name]
outside = sorted({m.split(".")[0] for m, mod in sys.modules.items()
                  if getattr(mod, "__file__", None) and "site-packages" in mod.__file__})
print(json.dumps({"results": out, "site_packages_modules": outside}))
"""


@pytest.fixture(scope="session")
def native_layers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The three layers built for this machine by their Makefiles (same prune list), plus boto3 as the runtime."""
    from photosort_local import native_layers as layers

    try:
        return layers.build(tmp_path_factory.mktemp("native-layers"), timeout=540)
    except layers.LayerBuildError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def sample_photos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One photo in every allowed format (pillow-heif from the dev venv writes the HEIC)."""
    import io

    import pillow_heif
    from PIL import Image

    from photosort_local.samples import find_sample

    pillow_heif.register_heif_opener()
    out = tmp_path_factory.mktemp("photos")
    img = Image.open(io.BytesIO(find_sample("chelsea").read_bytes())).convert("RGB")
    for fmt, ext in FORMATS.items():
        img.save(out / f"chelsea.{ext}", fmt)
    return out


@pytest.mark.parametrize("fn", sorted(FUNCTION_LAYERS))
def test_pruned_layers_run_each_handler(native_layers: dict[str, Path], sample_photos: Path, fn: str) -> None:
    paths = [
        REPO / "functions" / fn,
        *(native_layers[layer] for layer in FUNCTION_LAYERS[fn]),
        native_layers["runtime"],
    ]
    env = {k: v for k, v in _env().items() if not k.startswith(("PHOTOSORT_", "AWS_", "POWERTOOLS_", "PYTHON"))}
    env.update(
        {
            "PYTHONPATH": os.pathsep.join(map(str, paths)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "LAMBDA_TASK_ROOT": str(REPO / "functions" / fn),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            "AWS_REGION": "us-east-1",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "PHOTOSORT_TABLE_NAME": "photos",
            "PHOTOSORT_BACKEND": "local",
            "POWERTOOLS_SERVICE_NAME": f"photosort-{fn}",
            "POWERTOOLS_METRICS_NAMESPACE": "Photosort",
        }
    )
    event_file, module, model = EVENTS[fn]
    proc = subprocess.run(
        [
            sys.executable,
            "-S",
            "-c",
            _HANDLER_PROBE,
            fn,
            str(REPO / "events" / event_file),
            module,
            model,
            str(sample_photos),
        ],
        cwd=REPO / "functions" / fn,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, _report(proc)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["site_packages_modules"] == [], out  # everything came from the layers, the runtime stand-in or stdlib
    if fn == "classify":
        # photosort reports AVIF (a HEIF brand) as HEIF
        formats = {name: got[0] for name, got in out["results"].items()}
        assert formats == {f"chelsea.{ext}": "HEIF" if fmt == "AVIF" else fmt for fmt, ext in FORMATS.items()}
        assert len(out["results"]) == len(FORMATS) and all(got[1] for got in out["results"].values()), out


def test_sam_local_invoke_env_on_the_built_template(sam_build_dir: Path, tmp_path: Path) -> None:
    """The printed sam-env.json reaches `photosort local serve` from Docker (tests/local/test_sam_local_env.py)."""
    from tests.local.test_sam_local_env import check_built_template

    check_built_template(sam_build_dir / "template.yaml", tmp_path)
