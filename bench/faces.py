"""Benchmark: what the face detector adds to the local classify of a 12-megapixel JPEG.

Two 12 MP JPEGs (4000x3000, quality 92), made once in a temp dir: china.jpg upscaled (no face; the JPEG the
preprocess benchmark uses) and the astronaut upscaled and cropped (one face, so R-Net and O-Net run too). Each is
classified with the shipped backend (decode once, classifier + MTCNN on the shared image) and with the detector
switched off, interleaved in the same run. Target: the detector adds at most 30% to the classify time. The
figure from before the detector existed (``preprocess`` in the committed results) is reported beside it.

Wall time on a shared VM swings with the other tenants' load, so the CPU time of this process for the same calls
(``time.process_time``, interleaved, median of rounds) is reported beside it: what the detector costs when it has a
CPU of its own, as on Lambda. The target is judged on the CPU ratio.

The detector's sessions run on one thread; the classifier's on as many as the machine gives (two here). A 1024 MB
Lambda has one CPU or less, so every session there has one thread: the same CPU comparison is repeated in a child
process pinned to one CPU (``--one-cpu``), where the classifier itself costs less CPU and the ratio is higher.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import REPO, Result, compare, load_latest, report
from bench.preprocess import twelve_mp_jpeg

SIZE = (4000, 3000)
QUALITY = 92
FACE_JPEG = Path(tempfile.gettempdir()) / "photosort-bench" / f"astronaut_{SIZE[0]}x{SIZE[1]}_q{QUALITY}.jpg"
BUDGET = 1.30
CPU_ROUNDS = 9
CPU_CALLS = 4


def cpu_ms(fns: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median CPU milliseconds per call of each function, rounds interleaved (this process's threads only)."""
    per: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(CPU_ROUNDS):
        for name, fn in fns.items():
            start = time.process_time()
            for _ in range(CPU_CALLS):
                fn()
            per[name].append((time.process_time() - start) * 1000 / CPU_CALLS)
    return {name: statistics.median(v) for name, v in per.items()}


def twelve_mp_face_jpeg() -> bytes:
    if not FACE_JPEG.is_file():
        from PIL import Image

        from photosort_local.samples import find_sample

        FACE_JPEG.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(find_sample("astronaut")) as img:
            big = img.convert("RGB").resize((SIZE[0], SIZE[0]), Image.Resampling.BICUBIC)
        top = (SIZE[0] - SIZE[1]) // 4  # keep the face in frame
        big.crop((0, top, SIZE[0], top + SIZE[1])).save(FACE_JPEG, format="JPEG", quality=QUALITY)
    return FACE_JPEG.read_bytes()


def _before() -> float | None:
    """The committed classify figure for the 12 MP JPEG (the preprocess benchmark), if there is one."""
    for result in load_latest().get("benchmarks", {}).get("preprocess", {}).get("results", []):
        if result.get("name", "").startswith("preprocess: whole local classify"):
            details = result.get("details", {}).get("classify", {})
            return float(details.get("median_ms", result["figure"]))
    return None


def _jpegs() -> tuple[tuple[str, bytes], ...]:
    return (("no face (china)", twelve_mp_jpeg()), ("one face (astronaut)", twelve_mp_face_jpeg()))


def one_cpu_ms() -> dict[str, dict[str, float]]:
    """CPU ms per classify with and without the detector, for each JPEG, in this process as it is pinned."""
    from photosort.backends import local

    with_faces = local.LocalClassifier(variant="fp32")
    without = local.LocalClassifier(variant="fp32", detect_faces=False)
    return {
        label: cpu_ms(
            {"with": lambda d=data: with_faces.classify_bytes(d), "without": lambda d=data: without.classify_bytes(d)}
        )
        for label, data in _jpegs()
    }


def _on_one_cpu() -> dict[str, dict[str, float]] | None:
    """:func:`one_cpu_ms` in a fresh process pinned to one CPU (so every ONNX session gets one thread)."""
    cpu = min(os.sched_getaffinity(0))
    env = {k: v for k, v in os.environ.items() if k != "AWS_LAMBDA_FUNCTION_MEMORY_SIZE"}
    proc = subprocess.run(
        [sys.executable, "-m", "bench.faces", "--one-cpu"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=lambda: os.sched_setaffinity(0, {cpu}),
    )
    if proc.returncode != 0:
        print(f"  one-CPU run failed: {proc.stderr[-800:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> tuple[list[Result], dict[str, Any]]:
    from photosort.backends import local

    results: list[Result] = []
    before = _before()
    with_faces = local.LocalClassifier(variant="fp32")
    without = local.LocalClassifier(variant="fp32", detect_faces=False)
    load = os.getloadavg()[0]  # the other tenants' load moves these figures: it is recorded with them
    for label, data in _jpegs():
        faces = with_faces.classify_bytes(data).face_count
        t = compare(
            {"with": lambda d=data: with_faces.classify_bytes(d), "without": lambda d=data: without.classify_bytes(d)},
            rounds=3,
            block_s=1.5,
        )
        cpu = cpu_ms(
            {"with": lambda d=data: with_faces.classify_bytes(d), "without": lambda d=data: without.classify_bytes(d)}
        )
        wall_ratio = t["with"].median_ms / t["without"].median_ms
        ratio = cpu["with"] / cpu["without"]
        then = f"; committed figure before the detector: {before:.1f} ms" if before else ""
        report(
            results,
            Result(
                name=f"faces: local classify of a 12 MP JPEG, {label}, with vs without the face detector (CPU)",
                figure=cpu["with"],
                unit="CPU ms/image",
                target=f"detector adds <= {BUDGET - 1:.0%}",
                ratio=ratio,
                ratio_label=f"CPU with {cpu['with']:.1f} ms / without {cpu['without']:.1f} ms; wall "
                f"{t['with'].median_ms:.1f} / {t['without'].median_ms:.1f} ms = {wall_ratio:.2f}x; "
                f"{faces} face(s) found{then}; load average {load:.1f}",
                passed=ratio <= BUDGET,
                details={
                    "load_average_1min": load,
                    "with": t["with"].as_dict(),
                    "without": t["without"].as_dict(),
                    "cpu_ms": cpu,
                    "wall_ratio": wall_ratio,
                    "faces": faces,
                },
            ),
        )
    one_cpu = _on_one_cpu()
    for label, cpu in (one_cpu or {}).items():
        ratio = cpu["with"] / cpu["without"]
        report(
            results,
            Result(
                name=f"faces: the same on one CPU (every session one thread, as on a 1024 MB Lambda), {label}",
                figure=cpu["with"],
                unit="CPU ms/image",
                target=f"detector adds <= {BUDGET - 1:.0%}",
                ratio=ratio,
                ratio_label=f"CPU with {cpu['with']:.1f} ms / without {cpu['without']:.1f} ms; load average "
                f"{os.getloadavg()[0]:.1f}",
                passed=ratio <= BUDGET,
                details={"cpu_ms": cpu, "load_average_1min": os.getloadavg()[0]},
            ),
        )
    return results, {"jpegs": [str(FACE_JPEG)], "size": list(SIZE), "quality": QUALITY, "before_ms": before}


if __name__ == "__main__" and sys.argv[1:] == ["--one-cpu"]:
    print(json.dumps(one_cpu_ms()))
