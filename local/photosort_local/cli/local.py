"""``photosort local sort`` and ``photosort local serve``: your photos through the offline stack, or the stack
behind an AWS-compatible endpoint."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from photosort_local import gallery, report
from photosort_local.cli import backfill, running
from photosort_local.cli.common import CliError, port, positive_int
from photosort_local.cli.inputs import add_out_options, add_run_options, check_out_dir, find_inputs, stack_parameters

if TYPE_CHECKING:
    from photosort_local.cli.common import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    local = subcommands.add_parser("local", help="run the stack offline: sort your photos, or serve it")
    sub = local.add_subparsers(title="local commands", metavar="COMMAND", dest="local_command", required=True)
    sort = sub.add_parser(
        "sort",
        help="sort files and folders through the offline stack into --out DIR",
        description="Uploads each file under incoming/<path relative to the argument> (folders "
        "recursively, hidden files skipped) and writes each photo to DIR as soon as its execution ends. "
        "The state (what went where, albums, counts) is kept in DIR/.photosort/state.sqlite: run the same "
        "command again to resume after an interruption or to sort only what is new.",
    )
    sort.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders")
    add_out_options(sort, required=True)
    add_run_options(sort)
    sort.add_argument("--json", action="store_true", help="one JSON line per input, in input order")
    sort.add_argument(
        "--jobs",
        type=positive_int,
        default=os.cpu_count() or 1,
        help="worker processes, each with its own embedded stack (default: the number of cores)",
    )
    placing = sort.add_mutually_exclusive_group()
    placing.add_argument(
        "--link",
        action="store_true",
        help="hard-link the sorted photos to the originals (no second copy on disk; a copy across file systems)",
    )
    placing.add_argument(
        "--move",
        action="store_true",
        help="move the originals into DIR (by default they are copied and never changed)",
    )
    serve = sub.add_parser("serve", help="keep the offline stack running behind an AWS-compatible endpoint")
    serve.add_argument("--port", type=port, default=5000, help="port to listen on (default 5000; 0 picks one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to reach it from Docker)")
    gallery.add_options(serve)
    add_run_options(serve)
    refill = sub.add_parser(
        "backfill",
        help="ingest, reroute or reclassify the local bucket (the stack `photosort local serve` runs)",
        description="`photosort backfill` against the served offline stack (--endpoint-url defaults to it): "
        "--mode ingest (objects outside photosort's prefixes, or under --prefix), reroute (the current rules on "
        "the stored labels), reclassify (the current backend, model and few-shot head; --all for every photo); "
        "--dry-run for the plan; --inventory to read the items from an S3 Inventory of the local bucket (written "
        "first) instead of a listing.",
    )
    backfill.configure(refill, endpoint_default=backfill.LOCAL_ENDPOINT)
    local.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.local_command == "backfill":
        return backfill.run(args)
    return serve(args) if args.local_command == "serve" else sort(args)


def sort(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from photosort_local.localsort.run import SortJob
    from photosort_local.localsort.state import Mode, SortState
    from photosort_local.localsort.workers import WorkerError

    out = Path(args.out)
    check_out_dir(out, args.force)
    uploads = find_inputs(args.paths, exclude=out.resolve())
    parameters = stack_parameters(args)
    mode = Mode.MOVE if args.move else Mode.LINK if args.link else Mode.COPY
    listing = running.OutcomePrinter(sys.stdout)
    kept: list[report.Outcome] = []

    with tqdm(total=len(uploads), desc="sorting", unit="photo", file=sys.stderr, disable=None, leave=False) as bar:

        def emit(outcome: report.Outcome) -> None:
            if args.picture:
                kept.append(outcome)
            if args.json:
                report.print_json(outcome.to_json(), sys.stdout)
            else:
                bar.clear()
                listing.print(outcome)
                bar.refresh()

        job = SortJob(out=out, parameters=parameters, jobs=args.jobs, mode=mode, progress=bar.update)
        try:
            summary = job.run(uploads, emit)
        except WorkerError as exc:
            raise CliError(f"the embedded stack failed: {exc}") from exc
        except KeyboardInterrupt:
            print(
                f"\nInterrupted: what was sorted is recorded in {out}/.photosort; run the same command to go on.",
                file=sys.stderr,
            )
            raise
    with SortState(out) as state:
        albums = state.list_albums()
    if args.picture:
        from photosort_local.picture import contact_sheet

        contact_sheet(
            kept, running.folder_reader(out), Path(args.picture), f"photosort local sort: {len(kept)} input(s)"
        )
    if args.json:
        return 0
    print(file=sys.stdout)
    report.print_albums(albums, sys.stdout)
    print(f"\n{summary.text()}. Output in {out}/", file=sys.stdout)
    if args.picture:
        print(f"Picture: {args.picture}", file=sys.stdout)
    return 0


def serve(args: argparse.Namespace) -> int:
    from photosort_local import server

    try:
        server.check_port_free(args.host, args.port)  # before the stack: fail in a second, not in five
        web_port = gallery.gallery_port(args.port, args.gallery_port)
        if web_port:
            server.check_port_free("127.0.0.1", web_port)
        # the backfill machine may read an S3 Inventory there (`photosort local backfill --inventory` writes one)
        parameters = {**stack_parameters(args), "BackfillInventoryBucket": backfill.LOCAL_INVENTORY_BUCKET}
        print("Starting the embedded stack...", file=sys.stderr)
        with running.embedded_stack(parameters) as stack:
            stack.s3.create_bucket(Bucket=backfill.LOCAL_INVENTORY_BUCKET)
            server.serve(stack, args.host, args.port, sys.stdout, gallery_port=web_port)
    except server.PortInUseError as exc:
        raise CliError(str(exc)) from exc
    print("Stopped.", file=sys.stderr)
    return 0
