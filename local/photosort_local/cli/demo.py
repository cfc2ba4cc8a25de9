"""``photosort demo``: the bundled sample photos through the whole pipeline, offline."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from photosort import constants
from photosort_local import report
from photosort_local.cli import running
from photosort_local.cli.common import PROG, CliError
from photosort_local.cli.inputs import Upload, add_out_options, check_out_dir

if TYPE_CHECKING:
    from photosort.models import AlbumSummary
    from photosort_local.cli.common import Subcommands


def add_parser(subcommands: Subcommands) -> None:
    demo = subcommands.add_parser(
        "demo",
        help="sort the bundled sample photos through the whole pipeline, offline",
        description="Deploys the stack into moto in this process, uploads the sample "
        "photos and shows where each one went. Writes nothing unless --out.",
    )
    demo.add_argument("--json", action="store_true", help="one JSON document: albums, photos, incoming leftovers")
    add_out_options(demo, required=False)
    demo.set_defaults(run=run)


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


def run(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None:
        check_out_dir(out, args.force)
    uploads = _sample_uploads()
    with running.embedded_stack({"ClassifierBackend": "local"}) as stack:
        started = time.monotonic()
        outcomes = running.run_uploads(stack, uploads)
        took = time.monotonic() - started
        albums = running.albums(stack)
        left = [k for k in running.bucket_keys(stack) if k.startswith(constants.INCOMING_PREFIX)]
        written = running.write_tree(stack, out) if out is not None else 0
        running.picture(args, stack, outcomes, "photosort demo: the sample photos, sorted")
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
