"""Benchmark 5: cold start of each function, and the deployment size of each function plus its layers.

Cold start: a fresh Python subprocess per run imports the handler module (which initialises clients, settings,
rules and, for classify, the ONNX session) with the function's environment and the layers on PYTHONPATH. The
figure is import + init inside the process (interpreter start-up is reported separately). Then one representative
call (inspect: ``imaging.inspect_image``; classify: ``backend.classify_bytes``) pulls in what the function imports
lazily, and the top-level modules loaded are compared with each layer's packages: a layer package that no
function using the layer imports is dead weight. The environment is the function's as on Lambda (LAMBDA_TASK_ROOT,
its MemorySize in AWS_LAMBDA_FUNCTION_MEMORY_SIZE); the median of RUNS fresh processes is reported.

The venv's packages come with .pyc files and extras Lambda lacks (awscrt, pyOpenSSL), so classify is also timed
with ``python -S`` and only its layers as the layer Makefiles build them for this machine (TARGET=native, same
layers/prune.txt, compiled .pyc included) plus boto3 standing in for the runtime's: exactly what is deployed.
That figure carries the classify target.

Size: ``sam build --build-dir <tmp>`` (the layer Makefiles: arm64 wheels from PyPI, then layers/prune.txt), unzipped
bytes per function and per layer.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench import REPO, Result, report
from photosort_local import native_layers

NAME = "coldstart"
RUNS = 7  # a shared VM: the median of 7 fresh processes
TARGET_CLASSIFY_S = 1.0
TARGET_CLASSIFY_MB = 125.0
LAMBDA_LIMIT_MB = 250.0

_PROBE = r"""
import json, sys, time
t0 = time.perf_counter()
import app
init = time.perf_counter() - t0
touch = None
data = open(sys.argv[2], "rb").read()
t1 = time.perf_counter()
if sys.argv[1] == "inspect":
    from photosort import imaging
    imaging.inspect_image(data)
    touch = time.perf_counter() - t1
elif sys.argv[1] == "classify":
    app.backend.classify(type("I", (), {"read": staticmethod(lambda: data)})())
    touch = time.perf_counter() - t1
mods = sorted({m.split(".")[0] for m in sys.modules})
hwm = next(int(row.split()[1]) for row in open("/proc/self/status") if row.startswith("VmHWM"))
print(json.dumps({"init_s": init, "first_call_s": touch, "maxrss_mb": hwm / 1024, "modules": mods}))
"""


def function_memory_mb(name: str) -> int:
    """The function's MemorySize in template.yaml (or the Globals default)."""
    from photosort_local.sam import load_sam_template

    template = load_sam_template(REPO / "template.yaml")
    default = template.get("Globals", {}).get("Function", {}).get("MemorySize", 128)
    for res in template["Resources"].values():
        props = res.get("Properties", {})
        if res.get("Type") == "AWS::Serverless::Function" and props.get("CodeUri", "").rstrip("/").endswith(f"/{name}"):
            return int(props.get("MemorySize", default))
    return int(default)


def function_env(name: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PHOTOSORT_", "AWS_", "POWERTOOLS_", "LAMBDA_"))}
    env.update(
        {
            # As on Lambda: the X-Ray SDK sees LAMBDA_TASK_ROOT and uses its local sampler (elsewhere it creates two
            # X-Ray clients at import, ~0.2 s that Lambda never pays); the model session sizes its thread pool from
            # the memory size (photosort.backends.local._threads).
            "LAMBDA_TASK_ROOT": str(REPO / "functions" / name),
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function_memory_mb(name)),
            "PHOTOSORT_TABLE_NAME": "x",
            "PHOTOSORT_BUCKET_NAME": "photosort-bench",  # the albums API (it signs URLs for the bucket)
            "PHOTOSORT_BACKEND": "local",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_SERVICE_NAME": f"photosort-{name}",
            "POWERTOOLS_METRICS_NAMESPACE": "Photosort",
            "PYTHONPATH": os.pathsep.join(
                [
                    str(REPO / "layers" / "core"),
                    str(REPO / "layers" / "model"),
                    str(REPO / "functions" / name),
                    str(REPO / "local"),
                ]
            ),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
    )
    return env


def sample_photo() -> Path:
    """china.jpg written once under $TMPDIR/photosort-bench/ (probes without photosort_local read it from there)."""
    from photosort_local.samples import find_sample

    path = Path(tempfile.gettempdir()) / "photosort-bench" / "china.jpg"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(find_sample("china").read_bytes())
    return path


def cold_start(name: str, *, env: dict[str, str] | None = None, flags: tuple[str, ...] = ()) -> dict[str, Any]:
    env = env or function_env(name)
    runs = []
    for _ in range(RUNS):
        out = subprocess.run(
            [sys.executable, *flags, "-c", _PROBE, name, str(sample_photo())],
            env=env,
            cwd=REPO / "functions" / name,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    t = []
    for _ in range(RUNS):
        t0 = __import__("time").perf_counter()
        subprocess.run([sys.executable, *flags, "-c", "pass"], env=env, timeout=60, check=True)
        t.append(__import__("time").perf_counter() - t0)
    return {
        "init_s": statistics.median(r["init_s"] for r in runs),
        "init_runs_s": [round(r["init_s"], 3) for r in runs],
        "first_call_s": runs[-1]["first_call_s"],
        "maxrss_mb": max(r["maxrss_mb"] for r in runs),
        "interpreter_start_s": statistics.median(t),
        "modules": runs[-1]["modules"],
    }


# ------------------------------------------------------- cold start from the pruned layers, as deployed


def isolated_env(name: str, layers: list[str], native: dict[str, Path]) -> dict[str, str]:
    """function_env, but PYTHONPATH is only the function dir, its pruned layers and the runtime stand-in (run
    with -S, so nothing comes from the venv's site-packages)."""
    env = function_env(name)
    paths = [REPO / "functions" / name, *(native[lay] for lay in layers), native["runtime"]]
    env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    return env


# ------------------------------------------------------------------------------------------------ sizes


def du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def top_level_packages(layer_python: Path) -> dict[str, int]:
    out = {}
    for p in layer_python.iterdir():
        if p.name.endswith((".dist-info", ".data", ".libs")) or p.name in (
            "__pycache__",
            "bin",
            "requirements.txt",
            "NOTICE",
        ):
            continue
        name = p.name.split(".")[0] if p.is_file() else p.name
        if p.is_file() and not p.name.endswith((".py", ".so")):
            continue
        out[name] = out.get(name, 0) + (du(p) if p.is_dir() else p.stat().st_size)
    # a package's vendored shared libraries (numpy.libs, pillow.libs) count towards it
    for p in layer_python.glob("*.libs"):
        owner = p.name.removesuffix(".libs").replace("-", "_")
        owner = {"pillow": "PIL"}.get(owner, owner)
        if owner in out:
            out[owner] += du(p)
    return out


def sam_build(build_dir: Path) -> None:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "SAM_CLI_TELEMETRY": "0",
    }
    sam = shutil.which("sam", path=env["PATH"]) or "sam"
    subprocess.run(
        [sam, "build", "--template", str(REPO / "template.yaml"), "--build-dir", str(build_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=True,
    )


def function_layers() -> dict[str, list[str]]:
    from photosort_local.sam import load_sam_template

    template = load_sam_template(REPO / "template.yaml")
    global_layers = [
        lay["Ref"] for lay in template.get("Globals", {}).get("Function", {}).get("Layers", []) if isinstance(lay, dict)
    ]
    out = {}
    for logical_id, res in template["Resources"].items():
        if res.get("Type") == "AWS::Serverless::Function":
            own = [lay["Ref"] for lay in res["Properties"].get("Layers", []) if isinstance(lay, dict)]
            out[logical_id] = list(dict.fromkeys(global_layers + own))
    return out


def run() -> tuple[list[Result], dict[str, Any]]:
    results: list[Result] = []
    functions = sorted(p.name for p in (REPO / "functions").iterdir() if (p / "app.py").is_file())
    starts: dict[str, Any] = {}
    for name in functions:
        starts[name] = cs = cold_start(name)
        is_classify = name == "classify"
        report(
            results,
            Result(
                name=f"coldstart: {name} import + init (fresh process)",
                figure=cs["init_s"],
                unit="s",
                target="",
                ratio=None,
                ratio_label="",
                passed=None,
                details={k: v for k, v in cs.items() if k != "modules"},
            ),
        )
        print(
            f"      runs {cs['init_runs_s']} s; interpreter start {cs['interpreter_start_s']:.3f} s; "
            f"first call {cs['first_call_s'] or 0:.3f} s; peak RSS {cs['maxrss_mb']:.0f} MB"
        )

    layers_of = function_layers()
    with tempfile.TemporaryDirectory(prefix="photosort-native-layers-") as tmp:
        try:
            native = native_layers.build(Path(tmp))
        except (OSError, subprocess.SubprocessError) as exc:
            err = getattr(exc, "stderr", "") or str(exc)
            print(f"  native layer build failed, isolated cold start skipped: {err[-1500:]}")
        else:
            name = "classify"
            starts[f"{name}_isolated"] = cs = cold_start(
                name, env=isolated_env(name, layers_of["ClassifyFunction"], native), flags=("-S",)
            )
            report(
                results,
                Result(
                    name=f"coldstart: {name} import + init, as deployed (pruned layers only, -S)",
                    figure=cs["init_s"],
                    unit="s",
                    target=f"< {TARGET_CLASSIFY_S:.0f} s",
                    ratio=cs["init_s"] / starts[name]["init_s"],
                    ratio_label=f"vs {starts[name]['init_s']:.3f} s from the dev venv (which has extras Lambda lacks)",
                    passed=cs["init_s"] < TARGET_CLASSIFY_S,
                    details={k: v for k, v in cs.items() if k != "modules"},
                ),
            )
            print(
                f"      runs {cs['init_runs_s']} s; first call {cs['first_call_s'] or 0:.3f} s; "
                f"peak RSS {cs['maxrss_mb']:.0f} MB"
            )
    sizes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="photosort-sam-") as tmp:
        build = Path(tmp) / "build"
        try:
            sam_build(build)
        except (OSError, subprocess.SubprocessError) as exc:
            err = getattr(exc, "stderr", "") or str(exc)
            print(f"  sam build failed, sizes skipped: {err[-1500:]}")
            return results, {"cold_start": starts, "sizes": None}
        layer_mb = {d.name: du(d) / 1e6 for d in build.iterdir() if d.is_dir() and d.name.endswith("Layer")}
        layer_pkgs = {name: top_level_packages(build / name / "python") for name in layer_mb}
        for logical_id, layers in sorted(layers_of.items()):
            fn_mb = du(build / logical_id) / 1e6
            total = fn_mb + sum(layer_mb[lay] for lay in layers)
            short = logical_id.removesuffix("Function").lower()
            sizes[short] = {"function_mb": fn_mb, "layers": {lay: layer_mb[lay] for lay in layers}, "total_mb": total}
            is_classify = short == "classify"
            report(
                results,
                Result(
                    name=f"size: {short} + layers ({', '.join(layers)}), unzipped",
                    figure=total,
                    unit="MB",
                    target=f"< {TARGET_CLASSIFY_MB:.0f} MB"
                    if is_classify
                    else f"< {LAMBDA_LIMIT_MB:.0f} MB (Lambda limit)",
                    ratio=total / (TARGET_CLASSIFY_MB if is_classify else LAMBDA_LIMIT_MB),
                    ratio_label="of target" if is_classify else "of the Lambda limit",
                    passed=total < (TARGET_CLASSIFY_MB if is_classify else LAMBDA_LIMIT_MB),
                ),
            )
        # which layer packages each function actually imports
        usage: dict[str, Any] = {}
        print("  layer packages (MB) and the functions that import them (of those that ship the layer):")
        for layer, pkgs in sorted(layer_pkgs.items()):
            shipped_to = [lay.removesuffix("Function").lower() for lay, ls in layers_of.items() if layer in ls]
            for pkg, size in sorted(pkgs.items(), key=lambda kv: -kv[1]):
                users = [f for f in shipped_to if f in starts and pkg in starts[f]["modules"]]
                unused_by = [f for f in shipped_to if f not in users]
                usage.setdefault(layer, {})[pkg] = {
                    "mb": round(size / 1e6, 2),
                    "imported_by": users,
                    "not_imported_by": unused_by,
                }
                flag = "" if users else "   <-- imported by no function"
                print(
                    f"    {layer:<13} {pkg:<24} {size / 1e6:7.2f}  used by {','.join(users) or '-'}; "
                    f"not by {','.join(unused_by) or '-'}{flag}"
                )
        layer_total = {k: round(v, 2) for k, v in layer_mb.items()}
    return results, {"cold_start": starts, "sizes": sizes, "layer_mb": layer_total, "layer_packages": usage}
