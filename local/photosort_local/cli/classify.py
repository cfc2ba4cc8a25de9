"""``photosort classify FILE...``: labels only, nothing is uploaded or moved."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from photosort import constants
from photosort.errors import PhotosortError
from photosort_local import report
from photosort_local.cli.common import PROG, CliError, UsageError

if TYPE_CHECKING:
    from photosort.models import Classification
    from photosort_local.cli.common import Subcommands

Classify = Callable[[bytes, str], "Classification"]


def add_parser(subcommands: Subcommands) -> None:
    classify = subcommands.add_parser("classify", help="print the labels for image files; nothing is uploaded or moved")
    classify.add_argument("files", nargs="+", metavar="FILE")
    classify.add_argument(
        "--backend",
        choices=["local", "sagemaker", "rekognition", "custom-labels"],
        default="local",
        help="local runs offline; sagemaker reads PHOTOSORT_SAGEMAKER_* settings",
    )
    classify.add_argument("--json", action="store_true", help="one JSON line per file")
    classify.set_defaults(run=run)


def _sagemaker_classifier() -> Classify:
    """SageMaker takes the bytes in the request, so a file works without S3; settings come from PHOTOSORT_*."""
    import boto3

    from photosort.backends import ImageInput, create_backend
    from photosort.imaging import inspect_image
    from photosort.models import ObjectRef
    from photosort.settings import Settings

    settings = Settings.from_env({**os.environ, constants.BACKEND: "sagemaker"})
    backend = create_backend(settings, boto3.client)

    def classify(data: bytes, name: str) -> Classification:
        ref = ObjectRef(bucket="local-file", key=name, size=len(data))
        metadata = inspect_image(data, max_pixels=settings.max_image_pixels)
        return backend.classify(ImageInput(ref=ref, metadata=metadata, fetch=lambda: data))

    return classify


def _classifier(backend: str) -> Classify:
    if backend == "local":
        from photosort.backends.local import classify_bytes

        return lambda data, _name: classify_bytes(data)
    if backend == "sagemaker":
        return _sagemaker_classifier()
    # RekognitionClassifier only takes an ImageInput with an S3 reference; it has no bytes-only entry point.
    raise UsageError(
        f"classify --backend {backend} is not supported: {backend} reads the photo from S3. Upload it under "
        "incoming/ of a deployed stack instead, or use --backend local or sagemaker"
    )


def _classify_file(classify: Classify, name: str) -> Classification:
    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise CliError(f"{name}: {exc.strerror or exc}") from exc
    try:
        return classify(data, name)
    except PhotosortError as exc:
        raise CliError(f"{name}: {exc}") from exc


def run(args: argparse.Namespace) -> int:
    classify = _classifier(args.backend)
    failures = 0
    for name in args.files:
        try:
            result = _classify_file(classify, name)
        except CliError as exc:
            failures += 1
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            if args.json:
                report.print_json({"source": name, "error": str(exc)}, sys.stdout)
            continue
        if args.json:
            report.print_json(report.classification_json(name, result), sys.stdout)
        else:
            report.print_classification(name, result, sys.stdout)
    return 1 if failures else 0
