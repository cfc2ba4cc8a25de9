"""``photosort classify FILE... [--backend local|rekognition|custom-labels|sagemaker|bedrock]``: labels only.

Nothing is uploaded or moved. The AWS backends are the Lambda's own backend classes, called with the file's
bytes (see :mod:`photosort_local.file_backends`); errors are one line per file, and a backend that cannot
start (no credentials, no region, a model that is not running) stops with one line naming the fix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from photosort_local import report
from photosort_local.cli.common import PROG, CliError
from photosort_local.file_backends import BACKEND_NAMES, BackendNotReady, BackendOptions, FileClassifier, open_backend


class ClassifyError(Exception):
    """One file could not be classified; the message is one line."""


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """Options every command that builds backends for local files shares (classify, evaluate)."""
    aws = parser.add_argument_group("AWS backends (normal AWS credential chain)")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION or your profile's)")
    aws.add_argument(
        "--endpoint-url", help="send every AWS call here, e.g. the endpoint `photosort local serve` prints"
    )
    aws.add_argument("--model-id", help="bedrock: model or inference profile id (default amazon.nova-lite-v1:0)")
    aws.add_argument("--project-version-arn", help="custom-labels: the model version ARN (it must be running)")
    aws.add_argument("--endpoint-name", help="sagemaker: the endpoint name (it must be InService)")
    aws.add_argument("--class-names", help="sagemaker: comma-separated class names for a bare probability list")
    aws.add_argument("--min-confidence", type=float, help="labels below this (0-100) are not requested")
    aws.add_argument("--max-labels", type=int, help="at most this many labels per photo")


def backend_options(args: argparse.Namespace, rules: str | None) -> BackendOptions:
    return BackendOptions(
        region=args.region,
        endpoint_url=args.endpoint_url,
        rules=rules,
        model_id=args.model_id,
        project_version_arn=args.project_version_arn,
        endpoint_name=args.endpoint_name,
        class_names=args.class_names,
        min_confidence=args.min_confidence,
        max_labels=args.max_labels,
    )


def classify_file(classifier: FileClassifier, name: str) -> Any:
    """The file's Classification, or ClassifyError with one line (a PhotosortError or an AWS error)."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    from photosort.errors import PhotosortError
    from photosort_local.file_backends import NO_CREDENTIALS

    try:
        data = Path(name).read_bytes()
    except OSError as exc:
        raise ClassifyError(f"{name}: {exc.strerror or exc}") from exc
    try:
        return classifier.classify(data, name)
    except NoCredentialsError as exc:
        raise ClassifyError(f"{name}: {NO_CREDENTIALS}") from exc
    except (PhotosortError, BotoCoreError, ClientError) as exc:
        raise ClassifyError(f"{name}: {type(exc).__name__}: {exc}") from exc


def add_parser(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "classify",
        help="print the labels for image files with any backend; nothing is uploaded or moved",
        description="Labels local image files with the chosen backend, exactly as the Classify Lambda would "
        "(the AWS backends get the bytes: Image.Bytes for Rekognition and Custom Labels).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE")
    parser.add_argument(
        "--backend",
        choices=BACKEND_NAMES,
        default="local",
        help="local runs offline; the others call AWS (settings from the options below or PHOTOSORT_*)",
    )
    parser.add_argument(
        "--rules", metavar="FILE", help="bedrock: the rules whose labels the model may answer (default: family)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per file")
    add_backend_options(parser)
    parser.set_defaults(run=run)


def _rules_parameter(spec: str | None) -> str | None:
    if spec is None:
        return None
    from photosort_local.cli.inputs import load_rules_file

    return load_rules_file(spec)


def run(args: argparse.Namespace) -> int:
    try:
        classifier = open_backend(args.backend, backend_options(args, _rules_parameter(args.rules)))
    except BackendNotReady as exc:
        raise CliError(f"--backend {args.backend}: {exc}") from exc
    failures = 0
    for name in args.files:
        try:
            result = classify_file(classifier, name)
        except ClassifyError as exc:
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
