"""``photosort near-duplicates evaluate``: how well the near-duplicate policy separates copies from other photos.

On a set of distinct photos (by default every real photo that ships in the installed packages listed in
``PACKAGE_PHOTOS``, plus ``tests/data/vehicles``), it measures:

- the false-positive rate: the share of pairs of *distinct* photos whose similarity reaches the threshold;
- the recall per kind of copy (re-encoded, resized, cropped, re-compressed, PNG): the share of copies that the
  index would find (their strongest features meet the original's) at or above the threshold.

Photos that are themselves near-copies of each other (``motorcycle_right``, the stereo twin of
``motorcycle_left``) are left out of the distinct set.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import itertools
import sys
from pathlib import Path
from typing import Any

import numpy as np

from photosort import embeddings, neardup

REPO = Path(__file__).resolve().parents[3]
# package -> photos inside it (real photographs only: no drawings, charts or synthetic test patterns)
PACKAGE_PHOTOS: dict[str, tuple[str, ...]] = {
    "skimage": tuple(
        f"data/{name}"
        for name in (
            "astronaut.png",
            "brick.png",
            "camera.png",
            "cell.png",
            "chelsea.png",
            "clock_motion.png",
            "coffee.png",
            "coins.png",
            "color.png",
            "grass.png",
            "gravel.png",
            "hubble_deep_field.jpg",
            "ihc.png",
            "microaneurysms.png",
            "moon.png",
            "motorcycle_left.png",
            "page.png",
            "retina.jpg",
            "rocket.jpg",
            "text.png",
        )
    ),
    "sklearn": ("datasets/images/china.jpg", "datasets/images/flower.jpg"),
    "matplotlib": ("mpl-data/sample_data/grace_hopper.jpg",),
}
VEHICLES = REPO / "tests" / "data" / "vehicles"


def package_photos() -> list[Path]:
    found: list[Path] = []
    for package, inner in PACKAGE_PHOTOS.items():
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            continue
        root = Path(next(iter(spec.submodule_search_locations)))
        found.extend(root / p for p in inner if (root / p).is_file())
    return found


def default_photos() -> list[Path]:
    vehicles = (
        sorted(p for p in VEHICLES.rglob("*") if p.suffix.lower() in {".png", ".jpg"}) if VEHICLES.is_dir() else []
    )
    return package_photos() + vehicles


def _jpeg(img: Any, quality: int) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _png(img: Any) -> bytes:
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def copies(data: bytes) -> dict[str, bytes]:
    """The kinds of copy the policy must catch, made from one photo."""
    from PIL import Image

    from photosort.imaging import load_rgb

    img = load_rgb(data)
    w, h = img.size
    return {
        "re-encoded (JPEG q85)": _jpeg(img, 85),
        "resized to 50%": _jpeg(img.resize((max(1, w // 2), max(1, h // 2)), Image.Resampling.BICUBIC), 90),
        "cropped 10% off two sides": _jpeg(img.crop((w // 10, h // 10, w, h)), 90),
        "re-compressed (JPEG q25)": _jpeg(img, 25),
        "converted to PNG": _png(img),
    }


def evaluate(photos: list[Path], threshold: float, *, progress: bool = True) -> dict[str, Any]:
    from tqdm import tqdm

    from photosort.backends.local import LocalClassifier, preprocess

    classifier = LocalClassifier()

    def embed(data: bytes) -> Any:
        _, features = classifier.run_model(preprocess(data))
        return embeddings.encode(features, classifier.model_version)

    originals = []
    found: dict[str, list[bool]] = {}
    similarity: dict[str, list[float]] = {}
    for path in tqdm(photos, desc="near-duplicates", unit="photo", file=sys.stderr, disable=None if progress else True):
        data = path.read_bytes()
        original = embed(data)
        originals.append(original)
        keys = set(neardup.partitions(original))
        for kind, copy in copies(data).items():
            e = embed(copy)
            sim = embeddings.cosine(original, e)
            similarity.setdefault(kind, []).append(sim)
            found.setdefault(kind, []).append(sim >= threshold and bool(keys & set(neardup.partitions(e))))
    vectors = np.stack([embeddings.decode(e) for e in originals])
    pairs = [(i, j, float(vectors[i] @ vectors[j])) for i, j in itertools.combinations(range(len(vectors)), 2)]
    false_pos = [(photos[i].name, photos[j].name, s) for i, j, s in pairs if s >= threshold]
    return {
        "threshold": threshold,
        "photos": len(photos),
        "pairs": len(pairs),
        "false_positives": false_pos,
        "false_positive_rate": len(false_pos) / len(pairs) if pairs else 0.0,
        "max_distinct_similarity": max((s for _, _, s in pairs), default=0.0),
        "recall": {k: sum(v) / len(v) for k, v in found.items()},
        "min_copy_similarity": {k: min(v) for k, v in similarity.items()},
    }


def run(args: argparse.Namespace) -> int:
    photos = [Path(p) for p in args.photos] if args.photos else default_photos()
    expanded: list[Path] = []
    for p in photos:
        expanded.extend(
            sorted(f for f in p.rglob("*") if f.suffix.lower() in {".png", ".jpg", ".jpeg"}) if p.is_dir() else [p]
        )
    result = evaluate(expanded, args.threshold)
    print(f"{result['photos']} distinct photos, {result['pairs']} pairs, threshold {result['threshold']}")
    print(
        f"false positives: {len(result['false_positives'])} of {result['pairs']} pairs "
        f"= {result['false_positive_rate']:.2%} (most similar distinct pair: {result['max_distinct_similarity']:.3f})"
    )
    for a, b, s in result["false_positives"]:
        print(f"  {a} ~ {b}: {s:.3f}")
    print("copies recorded as near-duplicates (recall), and the lowest similarity of each kind:")
    for kind, recall in result["recall"].items():
        print(f"  {kind:<28} {recall:6.1%}   min {result['min_copy_similarity'][kind]:.3f}")
    return 0


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser("near-duplicates", help="measure the near-duplicate policy on distinct photos")
    parser.set_defaults(run=run)
    sub = parser.add_subparsers(title="near-duplicates commands", metavar="COMMAND", required=True)
    ev = sub.add_parser("evaluate", help="false-positive rate on distinct photos and recall on made copies")
    ev.add_argument("photos", nargs="*", metavar="PHOTO_OR_DIR", help="distinct photos (default: packaged photos)")
    ev.add_argument("--threshold", type=float, default=neardup.DEFAULT_THRESHOLD)
    ev.set_defaults(run=run)
