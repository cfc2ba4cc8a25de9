"""``photosort local sort`` and ``photosort local serve``: your photos through the offline stack, or the stack
behind an AWS-compatible endpoint."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from photosort_local import report
from photosort_local.cli import running
from photosort_local.cli.common import CliError, port
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
        "recursively, hidden files skipped) and writes the resulting bucket to DIR.",
    )
    sort.add_argument("paths", nargs="+", metavar="PATH", help="photo files or folders")
    add_out_options(sort, required=True)
    add_run_options(sort)
    sort.add_argument("--json", action="store_true", help="one JSON line per input, in input order")
    serve = sub.add_parser("serve", help="keep the offline stack running behind an AWS-compatible endpoint")
    serve.add_argument("--port", type=port, default=5000, help="port to listen on (default 5000; 0 picks one)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (0.0.0.0 to reach it from Docker)")
    add_run_options(serve)
    local.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    return serve(args) if args.local_command == "serve" else sort(args)


def sort(args: argparse.Namespace) -> int:
    out = Path(args.out)
    check_out_dir(out, args.force)
    uploads = find_inputs(args.paths, exclude=out.resolve())
    parameters = stack_parameters(args)
    with running.embedded_stack(parameters) as stack:
        outcomes = running.run_uploads(stack, uploads)
        albums = running.albums(stack)
        written = running.write_tree(stack, out)
        running.picture(args, stack, outcomes, f"photosort local sort: {len(outcomes)} input(s)")
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


def serve(args: argparse.Namespace) -> int:
    from photosort_local import server

    try:
        server.check_port_free(args.host, args.port)  # before the stack: fail in a second, not in five
        parameters = stack_parameters(args)
        print("Starting the embedded stack...", file=sys.stderr)
        with running.embedded_stack(parameters) as stack:
            server.serve(stack, args.host, args.port, sys.stdout)
    except server.PortInUseError as exc:
        raise CliError(str(exc)) from exc
    print("Stopped.", file=sys.stderr)
    return 0
