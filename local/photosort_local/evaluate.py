"""Measure backends on the user's own labelled photos and recommend one (``photosort evaluate``).

The labelled set is a folder with one sub-folder per expected album (``unsorted`` when the photo should go
nowhere, ``_any`` when there is no expectation), or a CSV of ``file,album`` rows. Every photo is classified
by each backend exactly as the Classify Lambda would (:mod:`photosort_local.file_backends`) and routed with
the rules as the Record step does (:func:`photosort.routing.match`; the primary membership is the album the
photo moves to). Results are cached per (file content, backend fingerprint), so re-running after adding
photos only classifies the new ones; routing is re-done every time, so editing the rules costs nothing.

Per backend, over the photos that have an expectation:

* right: went to the expected album (or stayed unsorted when ``unsorted`` was expected);
* wrong: went to a different album (the costly mistake: the user must find and move it);
* unsorted: stayed unsorted although an album was expected (a miss: it waits in unsorted/);
* failed: the backend rejected or could not classify it;
* per album precision (of the photos it put there, how many belong) and recall (of the photos that belong
  there, how many it put there); latency p50/p95 of one classification as measured here; the monthly cost
  at ``--volume`` from the cost model (:mod:`photosort_local.cost`).

The recommendation follows the guide: the cheapest backend that meets the user's target (default at least
90 % right and at most 2 % wrong); when none does, what to try next, with the cost of each at that volume.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UNSORTED = "unsorted"
FAILED = "failed"
ANY_ALBUM = "_any"
CACHE_NAME = ".photosort-evaluate.jsonl"
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".gif", ".webp", ".heic", ".heif", ".avif", ".tif", ".tiff", ".bmp"}
)


class DatasetError(ValueError):
    """The labelled set cannot be read; the message names the file or folder."""


@dataclass(frozen=True)
class Sample:
    path: Path
    name: str  # as shown in reports: relative to DIR (or as written in the CSV)
    expected: str | None  # None: no expectation (the _any folder)


@dataclass(frozen=True)
class Result:
    """One photo through one backend: its labels (or why it failed), the album it routes to, the latency."""

    sample: Sample
    labels: tuple[tuple[str, float], ...]
    predicted: str
    latency_ms: float | None
    error: str | None = None
    cached: bool = False


# -- the labelled set -------------------------------------------------------------------------------------------
def _visible(path: Path, root: Path) -> bool:
    return path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)


def load_folder(root: Path) -> list[Sample]:
    samples = []
    # Notes beside the album folders (README, SOURCES.md) are fine; a photo there has no expected album.
    loose = [p.name for p in root.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if loose:
        raise DatasetError(
            f"{root}: files must sit in one sub-folder per expected album (or {ANY_ALBUM}/ for no expectation); "
            f"found {', '.join(sorted(loose)[:3])} at the top"
        )
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        expected = None if folder.name == ANY_ALBUM else folder.name
        for path in sorted(folder.rglob("*")):
            if _visible(path, root):
                samples.append(Sample(path=path, name=path.relative_to(root).as_posix(), expected=expected))
    return samples


def load_csv(path: Path) -> list[Sample]:
    """Rows of ``file,album`` (a header row naming them is optional); files are relative to the CSV."""
    samples = []
    with path.open(newline="", encoding="utf-8") as handle:
        for n, row in enumerate(csv.reader(handle), start=1):
            if (
                not row
                or row[0].startswith("#")
                or (n == 1 and [c.strip().lower() for c in row[:2]] == ["file", "album"])
            ):
                continue
            if len(row) < 2 or not row[0].strip():
                raise DatasetError(f"{path}:{n}: expected 'file,album', got {row!r}")
            file, album = row[0].strip(), row[1].strip()
            target = (path.parent / file).resolve()
            if not target.is_file():
                raise DatasetError(f"{path}:{n}: {file}: no such file")
            samples.append(Sample(path=target, name=file, expected=None if album in ("", ANY_ALBUM) else album))
    return samples


def load_dataset(spec: str) -> list[Sample]:
    path = Path(spec)
    if path.is_dir():
        samples = load_folder(path)
    elif path.is_file() and path.suffix.lower() == ".csv":
        samples = load_csv(path)
    else:
        raise DatasetError(f"{spec}: expected a folder of album sub-folders or a .csv of file,album rows")
    if not samples:
        raise DatasetError(f"{spec}: no photos found")
    return samples


def check_albums(samples: Iterable[Sample], albums: Sequence[str]) -> None:
    """Every expected album must be one the rules can produce (or ``unsorted``): a typo would score 0 %."""
    known = {*albums, UNSORTED}
    unknown = sorted({s.expected for s in samples if s.expected is not None and s.expected not in known})
    if unknown:
        raise DatasetError(
            f"expected album(s) {', '.join(unknown)} are not in the rules; the rules' albums are "
            f"{', '.join(albums)} (use {UNSORTED}/ for photos that belong nowhere, {ANY_ALBUM}/ for no expectation)"
        )


# -- the cache ------------------------------------------------------------------------------------------------
def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Cache:
    """JSON lines of {sha256, backend fingerprint, labels, latency or a deterministic error}; append-only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[tuple[str, str], dict[str, Any]] = {}
        if path is not None and path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    entry = json.loads(line)
                    self._entries[(entry["sha256"], entry["fingerprint"])] = entry
                except (ValueError, KeyError, TypeError):
                    continue  # a line cut short by an interrupted run: classify that photo again

    def get(self, sha256: str, fingerprint: str) -> dict[str, Any] | None:
        return self._entries.get((sha256, fingerprint))

    def put(self, entry: dict[str, Any]) -> None:
        self._entries[(entry["sha256"], entry["fingerprint"])] = entry
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, separators=(",", ":")) + "\n")

    def __len__(self) -> int:
        return len(self._entries)


# -- running ----------------------------------------------------------------------------------------------------
Route = Callable[[tuple[tuple[str, float], ...]], str]


def router(rules: Any) -> Route:
    """Labels -> the album the Record step would move the photo to (primary membership), or unsorted."""
    from photosort.models import Label
    from photosort.routing import match

    def route(labels: tuple[tuple[str, float], ...]) -> str:
        memberships = match(rules, [Label(name=name, confidence=conf) for name, conf in labels])
        return memberships[0].album if memberships else UNSORTED

    return route


class StopBackend(Exception):
    """The backend cannot go on (credentials, a model that is not running): skip it with this reason."""


def run_one(
    classify: Callable[[bytes, str], Any], fingerprint: str, sample: Sample, cache: Cache, route: Route
) -> Result:
    """Classify one photo (or take it from the cache) and route it."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from photosort.errors import BackendThrottledError, BackendUnavailableError, ImageUnusableError, PhotosortError

    sha = file_digest(sample.path)
    entry = cache.get(sha, fingerprint)
    cached = entry is not None
    if entry is None:
        data = sample.path.read_bytes()
        started = time.perf_counter()
        try:
            classification = classify(data, sample.name)
        except (BackendUnavailableError, NoCredentialsError) as exc:
            raise StopBackend(f"{type(exc).__name__}: {exc}") from exc
        except ImageUnusableError as exc:  # deterministic: the same bytes are refused again, so cache it
            entry = {"sha256": sha, "fingerprint": fingerprint, "error": f"rejected: {exc}"}
            cache.put(entry)
        except (BackendThrottledError, PhotosortError, BotoCoreError, ClientError) as exc:
            # Transient or unexpected: not cached, so the next run tries this photo again.
            return Result(sample, (), FAILED, None, error=f"{type(exc).__name__}: {exc}")
        else:
            elapsed = (time.perf_counter() - started) * 1000.0
            entry = {
                "sha256": sha,
                "fingerprint": fingerprint,
                "labels": [[label.name, round(label.confidence, 3)] for label in classification.labels],
                "latency_ms": round(elapsed, 3),
            }
            cache.put(entry)
    if "error" in entry:
        return Result(sample, (), FAILED, None, error=str(entry["error"]), cached=cached)
    labels = tuple((str(name), float(conf)) for name, conf in entry["labels"])
    return Result(sample, labels, route(labels), float(entry["latency_ms"]), cached=cached)


# -- metrics ----------------------------------------------------------------------------------------------------
def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0-100) with linear interpolation between closest ranks; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass
class AlbumScore:
    album: str
    expected: int
    predicted: int
    correct: int

    @property
    def precision(self) -> float | None:
        return self.correct / self.predicted if self.predicted else None

    @property
    def recall(self) -> float | None:
        return self.correct / self.expected if self.expected else None


@dataclass
class BackendReport:
    backend: str
    results: list[Result]
    monthly_cost: float
    per_1000: float
    albums: list[str]  # the rules' albums, in rules order
    classified_now: int = 0
    from_cache: int = 0
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        for r in self.scored:
            self.counts[self.outcome(r)] += 1

    @property
    def scored(self) -> list[Result]:
        return [r for r in self.results if r.sample.expected is not None]

    @staticmethod
    def outcome(result: Result) -> str:
        if result.predicted == FAILED:
            return "failed"
        if result.predicted == result.sample.expected:
            return "right"
        return "unsorted" if result.predicted == UNSORTED else "wrong"

    def rate(self, outcome: str) -> float | None:
        total = len(self.scored)
        return self.counts[outcome] / total if total else None

    def album_scores(self) -> list[AlbumScore]:
        names = [*self.albums, UNSORTED]
        scores = []
        for album in names:
            expected = sum(1 for r in self.scored if r.sample.expected == album)
            predicted = sum(1 for r in self.scored if r.predicted == album)
            correct = sum(1 for r in self.scored if r.predicted == album and r.sample.expected == album)
            if expected or predicted:
                scores.append(AlbumScore(album, expected, predicted, correct))
        return scores

    def latencies(self) -> list[float]:
        return [r.latency_ms for r in self.results if r.latency_ms is not None]

    def confusion(self) -> tuple[list[str], list[str], list[list[int]]]:
        """(expected rows, predicted columns, counts) over the scored photos."""
        rows = [a for a in [*self.albums, UNSORTED] if any(r.sample.expected == a for r in self.scored)]
        cols = [a for a in [*self.albums, UNSORTED, FAILED] if a in rows or any(r.predicted == a for r in self.scored)]
        matrix = [
            [sum(1 for r in self.scored if r.sample.expected == e and r.predicted == p) for p in cols] for e in rows
        ]
        return rows, cols, matrix

    def meets(self, min_right: float, max_wrong: float) -> bool:
        right, wrong = self.rate("right"), self.rate("wrong")
        return right is not None and wrong is not None and right >= min_right and wrong <= max_wrong

    def as_dict(self) -> dict[str, Any]:
        latencies = self.latencies()
        return {
            "backend": self.backend,
            "photos": len(self.results),
            "scored": len(self.scored),
            "classified_now": self.classified_now,
            "from_cache": self.from_cache,
            "rates": {k: self.rate(k) for k in ("right", "wrong", "unsorted", "failed")},
            "albums": [
                {
                    "album": s.album,
                    "expected": s.expected,
                    "predicted": s.predicted,
                    "correct": s.correct,
                    "precision": s.precision,
                    "recall": s.recall,
                }
                for s in self.album_scores()
            ],
            "latency_ms": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95), "n": len(latencies)},
            "monthly_cost": self.monthly_cost,
            "per_1000_photos": self.per_1000,
            "failures": [{"photo": r.sample.name, "error": r.error} for r in self.results if r.error][:50],
        }


@dataclass(frozen=True)
class Skipped:
    backend: str
    reason: str


@dataclass(frozen=True)
class Option:
    """Something to try next, with its monthly cost at the volume."""

    name: str
    how: str
    monthly_cost: float | None


@dataclass
class Recommendation:
    chosen: str | None
    text: str
    options: list[Option] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "backend": self.chosen,
            "text": self.text,
            "next": [{"name": o.name, "how": o.how, "monthly_cost": o.monthly_cost} for o in self.options],
        }


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def recommend(
    reports: Sequence[BackendReport],
    *,
    min_right: float,
    max_wrong: float,
    volume: float,
    cost_of: Callable[[str], float],
    few_shot_available: bool,
    skipped: Sequence[Skipped] = (),
) -> Recommendation:
    target = f"at least {_pct(min_right)} right and at most {_pct(max_wrong)} wrong"
    passing = sorted((r for r in reports if r.meets(min_right, max_wrong)), key=lambda r: (r.monthly_cost, r.backend))
    if passing:
        best = passing[0]
        others = ", ".join(f"{r.backend} ${r.monthly_cost:,.2f}" for r in passing[1:])
        return Recommendation(
            chosen=best.backend,
            text=(
                f"Use {best.backend}: it meets your target ({target}) with {_pct(best.rate('right'))} right and "
                f"{_pct(best.rate('wrong'))} wrong, at ${best.monthly_cost:,.2f}/month for {volume:,.0f} photos"
                + (f" (also meeting it: {others})." if others else ".")
            ),
        )
    options = [
        Option(
            f"measure {s.backend} first",
            "skipped here (reason above); a pre-trained service needs no training, so measure it before "
            "building a model of your own",
            cost_of(s.backend),
        )
        for s in skipped
        if s.backend in ("rekognition", "bedrock")
    ]
    if few_shot_available:
        options.append(
            Option(
                "few-shot labels from a folder",
                "photosort labels train DIR: a head on the local model's embeddings, trained from your own folders "
                "(runs in the Lambda: the local backend's cost)",
                cost_of("local"),
            )
        )
    else:
        options.append(
            Option(
                "few-shot labels from a folder",
                "not in this version of photosort yet (`photosort labels train`); until then, Custom Labels",
                None,
            )
        )
    options.append(
        Option(
            "Rekognition Custom Labels",
            "train a model on these folders (a few dozen photos per album), start it, then "
            "`photosort evaluate DIR --backend custom-labels --project-version-arn ARN` (1 inference unit all month)",
            cost_of("custom-labels"),
        )
    )
    options.append(
        Option(
            "a SageMaker endpoint",
            "fine-tune an image classifier on these folders, deploy it, then "
            "`photosort evaluate DIR --backend sagemaker --endpoint-name NAME` (1 x ml.c5.large all month)",
            cost_of("sagemaker"),
        )
    )
    nearest = max(reports, key=lambda r: (r.rate("right") or 0.0, -(r.rate("wrong") or 1.0)), default=None)
    closest = (
        f" The closest was {nearest.backend}: {_pct(nearest.rate('right'))} right, {_pct(nearest.rate('wrong'))} wrong."
        if nearest
        else ""
    )
    return Recommendation(
        chosen=None, text=f"No backend measured here meets your target ({target}).{closest}", options=options
    )
