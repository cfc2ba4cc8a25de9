"""``photosort labels train|evaluate DIR --name NAME``: your own labels, learnt from a folder of examples.

DIR holds one sub-folder per label (``sedan/ suv/ pickup/`` or ``luna/ max/``). Every image in it is embedded
with the local model (the classifier's pooled features, one onnxruntime run each), then a small head is
fitted on the embeddings (see ``photosort.fewshot``). ``train`` writes the head artifact (JSON) with its
cross-validated accuracy; ``evaluate`` prints the cross-validated accuracy per label and draws the confusion
matrix as a PNG.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from photosort import embeddings
from photosort.errors import ConfigurationError, ImageUnusableError
from photosort.fewshot import METHODS, CrossValidation, cross_validate, train_head

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".heic", ".heif"})


@dataclass(frozen=True)
class FolderSet:
    labels: tuple[str, ...]
    vectors: np.ndarray  # (n, 1280) L2-normalised
    targets: np.ndarray  # (n,) label index
    files: tuple[Path, ...]
    skipped: tuple[tuple[Path, str], ...]
    model_version: str


def label_folders(root: Path) -> dict[str, list[Path]]:
    """label -> image files, from one sub-folder per label (hidden files and folders are ignored)."""
    if not root.is_dir():
        raise ConfigurationError(f"{root} is not a folder")
    found: dict[str, list[Path]] = {}
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and f.name[0] != "."
        )
        if files:
            found[sub.name] = files
    if len(found) < 2:
        raise ConfigurationError(f"{root}: need at least 2 sub-folders with images (one per label), found {len(found)}")
    return found


def embed_folder(root: Path, *, variant: str = "fp32", progress: bool = True) -> FolderSet:
    """Embed every image under ``root`` with the local model; undecodable files are skipped and reported."""
    from tqdm import tqdm

    from photosort.backends.local import LocalClassifier, preprocess

    folders = label_folders(root)
    classifier = LocalClassifier(variant=variant)
    vectors: list[np.ndarray] = []
    targets: list[int] = []
    files: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    todo = [(i, f) for i, label in enumerate(folders) for f in folders[label]]
    for index, path in tqdm(todo, desc="embedding", unit="photo", file=sys.stderr, disable=None if progress else True):
        try:
            _, features = classifier.run_model(preprocess(path.read_bytes()))
        except ImageUnusableError as exc:
            skipped.append((path, str(exc)))
            continue
        vectors.append(embeddings.normalise(features))
        targets.append(index)
        files.append(path)
    if not vectors:
        raise ConfigurationError(f"{root}: no usable images")
    return FolderSet(
        labels=tuple(folders),
        vectors=np.stack(vectors),
        targets=np.asarray(targets, dtype=np.int64),
        files=tuple(files),
        skipped=tuple(skipped),
        model_version=classifier.classifier_version,  # heads read the classifier's embeddings
    )


def confusion_png(cv: CrossValidation, path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(cv.labels)
    fig, ax = plt.subplots(figsize=(1.2 * n + 3, 1.2 * n + 2.2))
    rows = np.maximum(cv.confusion.sum(axis=1, keepdims=True), 1)
    ax.imshow(cv.confusion / rows, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(int(cv.confusion[i, j])), ha="center", va="center", fontsize=12)
    ax.set_xticks(range(n), cv.labels, rotation=30, ha="right")
    ax.set_yticks(range(n), [f"{label} ({cv.per_label[label]:.0%})" for label in cv.labels])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true label (accuracy)")
    ax.set_title(
        f"{title}\n{cv.folds}-fold cross-validated accuracy {cv.accuracy:.1%} ({int(cv.confusion.sum())} photos)"
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _report(cv: CrossValidation, data: FolderSet) -> None:
    counts = np.bincount(data.targets, minlength=len(data.labels))
    print(f"model {data.model_version}; {cv.method}; {cv.folds}-fold cross-validation on {len(data.files)} photos")
    for label, count in zip(data.labels, counts, strict=True):
        print(f"  {label:<20} {count:5d} photos   accuracy {cv.per_label[label]:6.1%}")
    print(f"  {'all':<20} {int(counts.sum()):5d} photos   accuracy {cv.accuracy:6.1%}")
    for path, why in data.skipped:
        print(f"  skipped {path}: {why}", file=sys.stderr)


def cmd_train(args: argparse.Namespace) -> int:
    data = embed_folder(Path(args.dir), variant=args.variant)
    cv = cross_validate(data.vectors, data.targets, data.labels, method=args.method, folds=args.folds)
    head = train_head(args.name, data.vectors, data.targets, data.labels, data.model_version, method=args.method, cv=cv)
    _report(cv, data)
    out = Path(args.out) if args.out else Path(f"{args.name}.head.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(head.to_json(), encoding="utf-8")
    print(f"wrote {out} (head {head.name!r} version {head.version}, labels {', '.join(head.labels)})")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    data = embed_folder(Path(args.dir), variant=args.variant)
    cv = cross_validate(data.vectors, data.targets, data.labels, method=args.method, folds=args.folds)
    _report(cv, data)
    png = Path(args.png) if args.png else Path(f"{args.name}-confusion.png")
    confusion_png(cv, png, title=f"label head {args.name!r} ({args.method})")
    print(f"wrote {png}")
    return 0


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dir", metavar="DIR", help="one sub-folder of example photos per label")
    parser.add_argument("--name", required=True, help="the head's name (lowercase letters, digits, . _ -)")
    parser.add_argument("--method", choices=METHODS, default="logistic-regression")
    parser.add_argument("--variant", choices=["fp32", "int8"], default="fp32", help="the local model it runs on")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (fewer if a label has fewer)")


def add_parser(subcommands: Any) -> None:
    labels = subcommands.add_parser("labels", help="your own labels: train a few-shot head from a folder")
    labels.set_defaults(run=run)
    sub = labels.add_subparsers(title="labels commands", metavar="COMMAND", dest="labels_command", required=True)
    train = sub.add_parser("train", help="train a head on DIR/<label>/* and write its artifact (JSON)")
    _common(train)
    train.add_argument("--out", help="artifact path (default NAME.head.json)")
    train.set_defaults(run=run, labels_command="train")
    evaluate = sub.add_parser("evaluate", help="cross-validated accuracy per label and a confusion-matrix PNG")
    _common(evaluate)
    evaluate.add_argument("--png", help="confusion-matrix picture (default NAME-confusion.png)")
    evaluate.set_defaults(run=run, labels_command="evaluate")


def run(args: argparse.Namespace) -> int:
    return cmd_train(args) if args.labels_command == "train" else cmd_evaluate(args)
