"""Running photos through the embedded stack: upload, wait with a progress bar, read back each outcome."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from photosort import constants
from photosort_local import report
from photosort_local.cli.common import PROG, CliError
from photosort_local.cli.inputs import Upload

if TYPE_CHECKING:
    from photosort.models import AlbumSummary, ImageRecord
    from photosort.repository import Repository
    from photosort_local.stack import EmbeddedStack

STALL_TIMEOUT = 180.0  # seconds with no execution finishing before the embedded stack counts as broken
POLL = 0.1


@contextmanager
def embedded_stack(parameters: dict[str, str]) -> Iterator[EmbeddedStack]:
    """The embedded stack; its failures become CLI errors."""
    from photosort_local.moto_pin import MotoVersionError
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


def bucket_keys(stack: EmbeddedStack) -> Iterator[str]:
    for page in stack.s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        yield from (obj["Key"] for obj in page.get("Contents", []))


def write_tree(stack: EmbeddedStack, out: Path) -> int:
    """Download every object except under incoming/ to ``out``/<key>; returns how many were written."""
    s3, root, written = stack.s3, out.resolve(), 0
    for key in bucket_keys(stack):
        if key.startswith((constants.INCOMING_PREFIX, constants.THUMBNAILS_PREFIX)) or key.endswith("/"):  # photos only
            continue
        target = (root / key).resolve()
        if not target.is_relative_to(root):
            raise CliError(f"refusing to write object {key!r} outside {out}")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(s3.get_object(Bucket=stack.bucket, Key=key)["Body"].read())
        written += 1
    return written


def albums(stack: EmbeddedStack) -> list[AlbumSummary]:
    from photosort.repository import Repository

    return Repository(stack.client("dynamodb"), stack.table).list_albums()


def picture(args: argparse.Namespace, stack: EmbeddedStack, outcomes: list[report.Outcome], title: str) -> None:
    """Write the contact sheet if ``--picture`` was given (while the stack still holds the photos)."""
    if args.picture:
        from photosort_local.picture import contact_sheet, s3_reader

        contact_sheet(outcomes, s3_reader(stack.s3, stack.bucket), Path(args.picture), title)


class OutcomePrinter:
    """The human listing of ``local sort``, one photo at a time as outcomes arrive: where it went, then its
    best labels and why."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self._header = False

    def print(self, outcome: report.Outcome) -> None:
        if not self._header:
            print(f"{'STATUS':<9} PHOTO -> WHERE IT WENT", file=self._out)
            self._header = True
        print(f"{outcome.status:<9} {outcome.source} -> {outcome.destination or '(not written)'}", file=self._out)
        print(f"{'':<9} {report.outcome_detail(outcome, ('rejected', 'failed', 'duplicate'))}", file=self._out)


def folder_reader(out: Path) -> Any:
    """``read(key)`` for the contact sheet: a sorted photo's bytes from ``out``, or None."""
    root = out.resolve()

    def read(key: str) -> bytes | None:
        try:
            return (root / key).read_bytes()
        except OSError:
            return None

    return read
