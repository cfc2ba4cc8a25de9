"""The ``photosort`` command line: try the pipeline offline, sort your own photos, query a stack's table.

    photosort demo                          the bundled sample photos through the whole pipeline, offline
    photosort local sort PATH... --out DIR  your photos through the same pipeline; the bucket tree lands in DIR
    photosort local serve [--port N]        the stack behind an AWS-compatible endpoint, until Ctrl-C
    photosort albums | album NAME           query a deployed (or served) stack's table
    photosort classify FILE...              labels only, nothing moves

The offline commands deploy template.yaml into moto (:mod:`photosort_local.stack`): the real state machine
and the real handlers, in this process. Exit codes: 0 done (rejected photos included), 1 something failed
(a broken stack, an AWS error, an unknown album, an unreadable file for ``classify``), 2 a usage error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from photosort import constants
from photosort.errors import ConfigurationError, PhotosortError
from photosort_local import devset, report

if TYPE_CHECKING:
    from photosort.models import Classification
    from photosort.repository import AlbumSummary, ImageRecord, Repository
    from photosort_local.stack import EmbeddedStack

PROG = "photosort"
STALL_TIMEOUT = 180.0  # seconds with no execution finishing before the embedded stack counts as broken
POLL = 0.1
OUTPUT_DIRS = frozenset(prefix.rstrip("/") for prefix in constants.OUTPUT_PREFIXES)


class CliError(Exception):
    """A problem to report in one line, without a traceback."""

    exit_code = 1


class UsageError(CliError):
    exit_code = 2


@dataclass(frozen=True)
class Upload:
    """One input file and the key it is uploaded under."""

    source: str
    path: Path
    key: str


# -- inputs and rules -----------------------------------------------------------------------------------------
def _walk(path: Path, exclude: Path | None) -> Iterator[tuple[Path, str]]:
    """(file, path relative to the argument). Hidden files and the output folder are skipped inside folders."""
    if not path.is_dir():
        yield path, path.name
        return
    for file in sorted(path.rglob("*")):
        relative = file.relative_to(path)
        if any(part.startswith(".") for part in relative.parts) or not file.is_file():
            continue
        if exclude is not None and file.resolve().is_relative_to(exclude):
            continue
        yield file, relative.as_posix()


def _unique_key(relative: str, taken: set[str]) -> str:
    """``incoming/<relative>``, or ``incoming/<n>/<relative>`` when another input already has that key."""
    key = f"{constants.INCOMING_PREFIX}{relative}"
    n = 1
    while key in taken:
        n += 1
        key = f"{constants.INCOMING_PREFIX}{n}/{relative}"
    taken.add(key)
    return key


def find_inputs(paths: Sequence[str], exclude: Path | None = None) -> list[Upload]:
    """Every file named or found under a folder, in argument order; a missing path is a usage error."""
    uploads: list[Upload] = []
    taken: set[str] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UsageError(f"{given}: no such file or folder")
        if not (path.is_dir() or path.is_file()):
            raise UsageError(f"{given}: not a regular file or folder")
        found = list(_walk(path, exclude))
        if not found:
            raise UsageError(f"{given}: no files in this folder")
        for file, relative in found:
            source = given if file == path else str(file)
            uploads.append(Upload(source=source, path=file, key=_unique_key(relative, taken)))
    return uploads


def _parse_rules_text(spec: str, text: str) -> Any:
    import yaml

    is_json = spec.lower().endswith(".json")
    try:
        return json.loads(text) if is_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise UsageError(f"{spec}: not valid {'JSON' if is_json else 'YAML'}: {exc}") from exc


def load_rules_file(spec: str) -> str:
    """The ``RoutingRules`` parameter for ``--rules``: a preset name, or a YAML/JSON file validated here.

    Validating before the stack starts turns a typo into one clear message instead of every photo failing.
    """
    from photosort.routing import PRESETS, validate_rules

    path = Path(spec)
    if spec in PRESETS and not path.exists():
        return spec
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--rules {spec}: {getattr(exc, 'strerror', None) or exc}") from exc
    ruleset = validate_rules(_parse_rules_text(spec, text), source=spec)
    return json.dumps(ruleset.model_dump(mode="json"), separators=(",", ":"))  # the parameter is one line


def _stack_parameters(args: argparse.Namespace) -> dict[str, str]:
    parameters = {"ClassifierBackend": args.backend}
    if args.rules:
        parameters["RoutingRules"] = load_rules_file(args.rules)
    return parameters


def _check_out_dir(out: Path, force: bool) -> None:
    """DIR must be missing, empty, or an earlier photosort output, unless ``--force``."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    if force or not out.exists():
        return
    foreign = sorted(p.name for p in out.iterdir() if p.name not in OUTPUT_DIRS or not p.is_dir())
    if foreign:
        raise UsageError(
            f"--out {out} is not empty and does not look like photosort output (found {', '.join(foreign[:3])}); "
            "use an empty folder, or --force to write into it anyway"
        )


# -- running photos through the embedded stack ----------------------------------------------------------------
def _quiet_libraries() -> None:
    """moto narrates every failed state and werkzeug every request; the CLI says what matters."""
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)


@contextmanager
def embedded_stack(parameters: dict[str, str]) -> Iterator[EmbeddedStack]:
    """The embedded stack; its failures become CLI errors."""
    from photosort_local.moto_adapters import MotoVersionError
    from photosort_local.stack import EmbeddedStack, StackError

    try:
        with EmbeddedStack(parameters=parameters) as stack:
            yield stack
    except (StackError, MotoVersionError) as exc:
        raise CliError(f"the embedded stack failed: {exc}") from exc


def _upload_all(stack: EmbeddedStack, uploads: Sequence[Upload]) -> dict[str, str]:
    """Upload every input; returns {key: reason} for the files that could not be read."""
    s3 = stack.s3
    unreadable: dict[str, str] = {}
    for upload in uploads:
        try:
            with upload.path.open("rb") as body:
                s3.put_object(Bucket=stack.bucket, Key=upload.key, Body=body)
        except OSError as exc:
            unreadable[upload.key] = f"could not read {upload.source}: {exc.strerror or exc}"
            print(f"{PROG}: warning: {unreadable[upload.key]}", file=sys.stderr)
    return unreadable


def _wait_for_executions(stack: EmbeddedStack, bar: Any) -> None:
    """Advance ``bar`` as executions finish. Every execution has started once the uploads return."""
    sfn = stack.client("stepfunctions")
    pending = set(stack.executions())
    bar.update(max(0, bar.total - len(pending)))  # unreadable files and uploads that started nothing
    deadline = time.monotonic() + STALL_TIMEOUT
    while pending:
        done = {arn for arn in pending if sfn.describe_execution(executionArn=arn)["status"] != "RUNNING"}
        if done:
            pending -= done
            bar.update(len(done))
            deadline = time.monotonic() + STALL_TIMEOUT
        elif time.monotonic() > deadline:
            raise CliError(
                f"the embedded stack is stuck: {len(pending)} execution(s) made no progress in {STALL_TIMEOUT:.0f} s"
            )
        else:
            time.sleep(POLL)


def _latest_records(repo: Repository) -> dict[str, ImageRecord]:
    records: dict[str, ImageRecord] = {}
    for record in repo.scan_images():
        known = records.get(record.source_key)
        if known is None or record.updated_at > known.updated_at:
            records[record.source_key] = record
    return records


def _execution_errors(stack: EmbeddedStack) -> dict[str, str]:
    """{source key: error} for executions that did not succeed (event keys are URL-encoded, as S3 sends them)."""
    from photosort.storage import key_candidates

    return {
        key_candidates(o.key)[0]: f"{o.error}: {(o.cause or '')[:300]}"
        for o in stack.wait_idle(timeout=STALL_TIMEOUT)
        if o.status != "SUCCEEDED"
    }


def _unrecorded(upload: Upload, reason: str | None, uploaded: bool) -> report.Outcome:
    return report.Outcome(
        source=upload.source,
        key=upload.key,
        status="failed",
        destination=upload.key if uploaded else None,
        reason=reason or "no execution recorded this upload (see the dead-letter queue)",
    )


def _outcomes(stack: EmbeddedStack, uploads: Sequence[Upload], unreadable: dict[str, str]) -> list[report.Outcome]:
    """Each input's outcome, in input order, from the DynamoDB records (the pipeline's own account of it)."""
    from photosort.repository import Repository

    records = _latest_records(Repository(stack.client("dynamodb"), stack.table))
    missing = any(u.key not in records and u.key not in unreadable for u in uploads)
    errors = _execution_errors(stack) if missing else {}
    return [
        report.Outcome.from_record(u.source, records[u.key])
        if u.key in records
        else _unrecorded(u, unreadable.get(u.key) or errors.get(u.key), u.key not in unreadable)
        for u in uploads
    ]


def run_uploads(stack: EmbeddedStack, uploads: Sequence[Upload]) -> list[report.Outcome]:
    """Upload, wait with a progress bar on stderr (terminals only), and return every input's outcome."""
    from tqdm import tqdm

    with tqdm(total=len(uploads), desc="sorting", unit="photo", file=sys.stderr, disable=None, leave=False) as bar:
        unreadable = _upload_all(stack, uploads)
        _wait_for_executions(stack, bar)
    return _outcomes(stack, uploads, unreadable)


def _bucket_keys(stack: EmbeddedStack) -> Iterator[str]:
    for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        yield from (obj["Key"] for obj in page.get("Contents", []))


def write_tree(stack: EmbeddedStack, out: Path) -> int:
    """Download every object except under incoming/ to ``out``/<key>; returns how many were written."""
    s3, root, written = stack.s3, out.resolve(), 0
    for key in _bucket_keys(stack):
        if key.startswith(constants.INCOMING_PREFIX) or key.endswith("/"):
            continue
        target = (root / key).resolve()
        if not target.is_relative_to(root):
            raise CliError(f"refusing to write object {key!r} outside {out}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
        written += 1
    return written


def _albums(stack: EmbeddedStack) -> list[AlbumSummary]:
    from photosort.repository import Repository

    return Repository(stack.client("dynamodb"), stack.table).list_albums()


# -- demo -----------------------------------------------------------------------------------------------------
def _sample_uploads() -> list[Upload]:
    from photosort_local.samples import SAMPLES, SampleNotFoundError, find_sample

    try:
        paths = [find_sample(name) for name in SAMPLES]
    except SampleNotFoundError as exc:
        raise CliError(f"{exc} (make install)") from exc
    return [Upload(source=p.name, path=p, key=f"{constants.INCOMING_PREFIX}samples/{p.name}") for p in paths]


def _print_demo(outcomes: list[report.Outcome], albums: list[AlbumSummary], left: list[str], took: float) -> None:
    out = sys.stdout
    print(
        f"photosort demo: {len(outcomes)} sample photos went S3 incoming/ -> EventBridge -> Step Functions -> "
        f"Lambda (local model) in {took:.1f} s\n",
        file=out,
    )
    report.print_outcomes(outcomes, out)
    print(file=out)
    report.print_albums(albums, out)
    rest = f"{len(left)} object(s) still under incoming/" if left else "nothing left under incoming/"
    print(f"\n{report.summary(outcomes)}; {rest}.", file=out)
    print(f"Your own photos: {PROG} local sort ~/Pictures --out sorted/", file=out)


def cmd_demo(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None:
        _check_out_dir(out, args.force)
    uploads = _sample_uploads()
    with embedded_stack({"ClassifierBackend": "local"}) as stack:
        started = time.monotonic()
        outcomes = run_uploads(stack, uploads)
        took = time.monotonic() - started
        albums = _albums(stack)
        left = [k for k in _bucket_keys(stack) if k.startswith(constants.INCOMING_PREFIX)]
        written = write_tree(stack, out) if out is not None else 0
        _picture(args, stack, outcomes, "photosort demo: the sample photos, sorted")
    if args.json:
        photos = [o.to_json() for o in outcomes]
        report.print_json({"albums": report.albums_json(albums), "photos": photos, "incoming": left}, sys.stdout)
        return 0
    _print_demo(outcomes, albums, left, took)
    if out is not None:
        print(f"Wrote {written} file(s) to {out}/", file=sys.stdout)
    if args.picture:
        print(f"Picture: {args.picture}", file=sys.stdout)
    return 0


def _picture(args: argparse.Namespace, stack: EmbeddedStack, outcomes: list[report.Outcome], title: str) -> None:
    """Write the contact sheet if ``--picture`` was given (while the stack still holds the photos)."""
    if args.picture:
        from photosort_local.picture import contact_sheet, s3_reader

        contact_sheet(outcomes, s3_reader(stack.s3, stack.bucket), Path(args.picture), title)


# -- local sort / local serve ---------------------------------------------------------------------------------
def cmd_local_sort(args: argparse.Namespace) -> int:
    out = Path(args.out)
    _check_out_dir(out, args.force)
    uploads = find_inputs(args.paths, exclude=out.resolve())
    parameters = _stack_parameters(args)
    with embedded_stack(parameters) as stack:
        outcomes = run_uploads(stack, uploads)
        albums = _albums(stack)
        written = write_tree(stack, out)
        _picture(args, stack, outcomes, f"photosort local sort: {len(outcomes)} input(s)")
    if args.json:
        for outcome in outcomes:
            report.print_json(outcome.to_json(), sys.stdout)
        return 0
    report.print_outcomes(outcomes, sys.stdout)
    print(file=sys.stdout)
    report.print_albums(albums, sys.stdout)
    print(f"\n{report.summary(outcomes)}. Wrote {written} file(s) to {out}/", file=sys.stdout)
    if args.picture:
        print(f"Picture: {args.picture}", file=sys.stdout)
    return 0


def cmd_local_serve(args: argparse.Namespace) -> int:
    from photosort_local import server

    try:
        server.check_port_free(args.host, args.port)  # before the stack: fail in a second, not in five
        parameters = _stack_parameters(args)
        print("Starting the embedded stack...", file=sys.stderr)
        with embedded_stack(parameters) as stack:
            server.serve(stack, args.host, args.port, sys.stdout)
    except server.PortInUseError as exc:
        raise CliError(str(exc)) from exc
    print("Stopped.", file=sys.stderr)
    return 0


# -- albums / album -------------------------------------------------------------------------------------------
def _target_repository(args: argparse.Namespace) -> Repository:
    """The table named by --table, or the PhotoTableName output of --stack, through the usual AWS chain."""
    import boto3

    from photosort.repository import Repository

    session = boto3.session.Session(region_name=args.region)

    def client(service: str) -> Any:
        return session.client(service, endpoint_url=args.endpoint_url)

    table = args.table
    if not table:
        stack = client("cloudformation").describe_stacks(StackName=args.stack)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        if "PhotoTableName" not in outputs:
            raise CliError(f"stack {args.stack} has no PhotoTableName output; is it a photosort stack?")
        table = outputs["PhotoTableName"]
    return Repository(client("dynamodb"), table)


def cmd_albums(args: argparse.Namespace) -> int:
    albums = _target_repository(args).list_albums()
    if args.json:
        report.print_json({"albums": report.albums_json(albums)}, sys.stdout)
    else:
        report.print_albums(albums, sys.stdout)
    return 0


def cmd_album(args: argparse.Namespace) -> int:
    repo = _target_repository(args)
    albums = {a.album: a for a in repo.list_albums()}
    if args.name not in albums:
        raise CliError(f"no album named {args.name}; albums: {', '.join(sorted(albums)) or '(none yet)'}")
    try:
        page = repo.list_album(args.name, limit=args.limit, next_token=args.next_token)
    except ValueError as exc:  # a token that is not base64 JSON
        raise UsageError(f"--next-token is not a token {PROG} printed: {exc}") from exc
    if args.json:
        report.print_json(report.album_page_json(albums[args.name], page), sys.stdout)
    else:
        report.print_album_page(albums[args.name], page, sys.stdout)
    return 0


# -- classify -------------------------------------------------------------------------------------------------
Classify = Callable[[bytes, str], "Classification"]


def _sagemaker_classifier() -> Classify:
    """SageMaker takes the bytes in the request, so a file works without S3; settings come from PHOTOSORT_*."""
    import boto3

    from photosort.backends import ImageInput, create_backend
    from photosort.imaging import inspect_image
    from photosort.models import ObjectRef
    from photosort.settings import Settings

    backend = create_backend(Settings.from_env({**os.environ, constants.BACKEND: "sagemaker"}), boto3.client)

    def classify(data: bytes, name: str) -> Classification:
        ref = ObjectRef(bucket="local-file", key=name, size=len(data))
        return backend.classify(ImageInput(ref=ref, metadata=inspect_image(data), fetch=lambda: data))

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


def cmd_classify(args: argparse.Namespace) -> int:
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


# -- parser ---------------------------------------------------------------------------------------------------
def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be 1 or more")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("must be 0-65535 (0 picks a free port)")
    return value


def _add_run_options(parser: argparse.ArgumentParser, *, rules: bool = True) -> None:
    parser.add_argument(
        "--backend",
        choices=["local"],
        default="local",
        help="classifier; local (the bundled ONNX model) is the one that runs offline",
    )
    if rules:
        parser.add_argument(
            "--rules", metavar="FILE", help="routing rules, a YAML or JSON file (or a preset: family, dealership)"
        )


def _add_out_options(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument(
        "--out",
        metavar="DIR",
        required=required,
        help="write the sorted bucket (albums/, unsorted/, rejected/, ...) here; DIR must be empty, "
        "new, or an earlier photosort output",
    )
    parser.add_argument("--force", action="store_true", help="write into a non-empty DIR anyway")
    parser.add_argument(
        "--picture",
        metavar="FILE.png",
        help="also draw a contact sheet: every photo as a thumbnail under where it went",
    )


def _add_demo(commands: Any) -> None:
    demo = commands.add_parser(
        "demo",
        help="sort the bundled sample photos through the whole pipeline, offline",
        description="Deploys the stack into moto in this process, uploads the sample "
        "photos and shows where each one went. Writes nothing unless --out.",
    )
    demo.add_argument("--json", action="store_true", help="one JSON document: albums, photos, incoming leftovers")
    _add_out_options(demo, required=False)
    demo.set_defaults(func=cmd_demo)


def _add_local(commands: Any) -> None:
    local = commands.add_parser("local", help="run the stack offline: sort your photos, or serve it")
    sub = local.add_subparsers(title="local commands", metavar="COMMAND", required=True)
    sort = sub.add_parser(
        "sort",
        help="sort files and folders through the offline stack into --out DIR",
        description="Uploads each file under incoming/<path relative to the argument> (folders "
        "recursively, hidden files skipped) and writes the resulting bucket to DIR.",
    )
    sort.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders")
    _add_out_options(sort, required=True)
    _add_run_options(sort)
    sort.add_argument("--json", action="store_true", help="one JSON line per input, in input order")
    sort.set_defaults(func=cmd_local_sort)
    serve = sub.add_parser("serve", help="keep the offline stack running behind an AWS-compatible endpoint")
    serve.add_argument("--port", type=_port, default=5000, help="port to listen on (default 5000; 0 picks one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to reach it from Docker)")
    _add_run_options(serve)
    serve.set_defaults(func=cmd_local_serve)


def _add_target_options(parser: argparse.ArgumentParser) -> None:
    target = parser.add_argument_group("which table (normal AWS credential chain)")
    target.add_argument("--table", help="the DynamoDB table name")
    target.add_argument(
        "--stack",
        default="photosort",
        help="read the table from this CloudFormation stack's PhotoTableName output (default photosort)",
    )
    target.add_argument("--endpoint-url", help="an AWS-compatible endpoint, e.g. the one `local serve` prints")
    target.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.add_argument("--json", action="store_true", help="JSON for scripts")


def _add_queries(commands: Any) -> None:
    albums = commands.add_parser("albums", help="list albums and inventory categories with their photo counts")
    _add_target_options(albums)
    albums.set_defaults(func=cmd_albums)
    album = commands.add_parser("album", help="list one album's photos, newest first")
    album.add_argument("name", help="album or inventory category name")
    album.add_argument("--limit", type=_positive_int, default=50, help="photos per page (default 50)")
    album.add_argument("--next-token", help="the token the previous page printed")
    _add_target_options(album)
    album.set_defaults(func=cmd_album)


def _add_classify(commands: Any) -> None:
    classify = commands.add_parser("classify", help="print the labels for image files; nothing is uploaded or moved")
    classify.add_argument("files", nargs="+", metavar="FILE")
    classify.add_argument(
        "--backend",
        choices=["local", "sagemaker", "rekognition", "custom-labels"],
        default="local",
        help="local runs offline; sagemaker reads PHOTOSORT_SAGEMAKER_* settings",
    )
    classify.add_argument("--json", action="store_true", help="one JSON line per file")
    classify.set_defaults(func=cmd_classify)


def _add_cost(commands: Any) -> None:
    """``photosort cost`` lives in photosort_local.cost, maintained separately; wire it in when it is there."""
    try:
        cost = importlib.import_module("photosort_local.cost")
    except ModuleNotFoundError as exc:
        if exc.name != "photosort_local.cost":
            raise
        return
    register = getattr(cost, "register", None)
    if callable(register):
        register(commands)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Event-driven photo sorting (S3 -> EventBridge -> Step Functions -> Lambda), runnable offline.",
        epilog=f"Start with: {PROG} demo",
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)
    _add_demo(commands)
    _add_local(commands)
    _add_queries(commands)
    _add_classify(commands)
    _add_cost(commands)
    devset.add_parser(commands)
    return parser


def _fail(message: str, code: int) -> int:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    _quiet_libraries()
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except ConfigurationError as exc:
        return _fail(str(exc), 2)
    except (PhotosortError, BotoCoreError, ClientError) as exc:
        return _fail(str(exc), 1)
