"""``photosort backfill``: sort what is already in the bucket, re-route on new rules, reclassify on a new model.

    photosort backfill --stack photosort --mode ingest [--prefix old-photos/] [--dry-run]
    photosort backfill --stack photosort --mode ingest --manifest s3://inventory-bucket/.../manifest.json
    photosort backfill --stack photosort --mode reroute --dry-run
    photosort backfill --stack photosort --mode reclassify [--all]
    photosort backfill --stack photosort --report EXECUTION_ARN

A run is one execution of the stack's backfill machine (README "Backfill and reprocess"); the command waits for it
and prints the report (totals by outcome, moves between albums, failed items with reasons, how to redrive).
``--dry-run`` changes nothing: it prints how many keys each outcome would have, the moves as a diff table, the
estimated cost and the duration at the configured concurrency. ``--endpoint-url`` targets ``photosort local
serve``; ``photosort local backfill`` is the same command with that endpoint as its default, and its
``--inventory`` writes a real-format S3 Inventory of the local bucket first (the offline stack has no S3
Inventory; ``photosort local serve`` configures :data:`LOCAL_INVENTORY_BUCKET` as its destination) and reads the
items from it, as ``--manifest`` does on AWS.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from photosort import backfill
from photosort_local import backfill_run, endpoints, inventory
from photosort_local.cost.backfill import BATCH

if TYPE_CHECKING:
    from photosort_local.cli.common import Subcommands

LOCAL_ENDPOINT = "http://127.0.0.1:5000"
LOCAL_INVENTORY_BUCKET = "photosort-local-inventory"  # `photosort local serve`'s BackfillInventoryBucket


def _moves_table(moves: list[dict[str, Any]]) -> list[str]:
    if not moves:
        return ["  (no photo changes album)"]
    width = max(len("FROM"), *(len(m["from"]) for m in moves))
    width_to = max(len("TO"), *(len(m["to"]) for m in moves))
    lines = [f"  {'FROM':<{width}}  {'TO':<{width_to}}  PHOTOS"]
    lines += [f"  {m['from']:<{width}}  {m['to']:<{width_to}}  {m['photos']:>6,}" for m in moves]
    return lines


def _duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def plan_text(planned: backfill_run.PlannedRun) -> str:
    d = planned.as_dict()
    est = planned.cost
    source = f"the S3 Inventory {planned.manifest}" if planned.manifest else "a listing"
    counted = "in the inventory" if planned.manifest else "listed"
    lines = [
        f"Dry run: {d['mode']} of prefix {planned.prefix!r} from {source}: nothing was changed.",
        f"  {d['listed']:,} keys {counted}, {d['touched']:,} would be touched",
        "  " + ", ".join(f"{k} {v:,}" for k, v in d["outcomes"].items()),
        *(f"    skipped {n:,}: {reason}" for reason, n in d["skipped"].items()),
        "Moves (diff):",
        *_moves_table(d["moves"]),
        f"Estimated cost: ${est.total:,.2f} ({est.backend} backend; itemised with --json)",
        (
            f"Estimated duration: {_duration(est.duration_s)} at MaxConcurrency {est.max_concurrency} "
            f"({est.seconds_per_item * 1000:.0f} ms per key, batches of {BATCH})"
        ),
    ]
    if d["mode"] != "reroute":
        lines.append("  (ingest and reclassify learn the new album only when they classify: '?' above)")
    return "\n".join(lines)


def report_text(execution_arn: str, status: str, report: backfill.Report, error: str | None) -> str:
    d = report.as_dict()
    lines = [f"Backfill {execution_arn}: {status}" + (f" ({error})" if error else "")]
    lines += ["  OUTCOME     ITEMS"] + [f"  {k:<10} {v:>6,}" for k, v in d["outcomes"].items()]
    lines += ["Moves:", *_moves_table(d["moves"])]
    failed = d["failed_items"]
    if failed:
        lines.append(f"Failed items ({len(failed)}):")
        lines += [f"  {f['key']}  {f['outcome']}: {f['reason']}" for f in failed[:50]]
        if len(failed) > 50:
            lines.append(f"  ... and {len(failed) - 50} more (--json lists them all)")
    if failed or status != "SUCCEEDED":
        lines.append(backfill_run.redrive_hint(execution_arn))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    endpoint = args.endpoint_url
    session = endpoints.session(endpoint, args.region)

    def client(service: str) -> Any:
        # boto3-stubs types clients only for literal service names; this one is chosen at run time.
        return session.client(service, endpoint_url=endpoint)  # type: ignore[call-overload]

    target = backfill_run.stack_target(client, args.stack)
    sfn = client("stepfunctions")
    if args.report:
        desc = backfill_run.wait(sfn, args.report, timeout=args.timeout)
        return _print_report(client, target, args, args.report, desc)
    if not args.mode:
        raise backfill_run.BackfillCliError("--mode is required (ingest, reroute or reclassify), or --report ARN")
    if getattr(args, "inventory", False):
        if args.manifest:
            raise backfill_run.BackfillCliError("--inventory writes the manifest: give --inventory or --manifest")
        args.manifest = inventory.write_inventory(client("s3"), target.bucket, LOCAL_INVENTORY_BUCKET)
        print(f"wrote an S3 Inventory of {target.bucket}: {args.manifest}", file=sys.stderr, flush=True)
    try:
        options = backfill.RunOptions(
            mode=backfill.Mode(args.mode), prefix=args.prefix, all=args.all, manifest=args.manifest
        )
    except ValueError as exc:  # pydantic's ValidationError: a --manifest that is not s3://.../manifest.json
        raise backfill_run.BackfillCliError(str(exc).splitlines()[-1].strip()) from exc
    if args.dry_run:
        planned = backfill_run.plan_run(client, target, options)
        print(json.dumps(planned.as_dict(), indent=2, default=str) if args.json else plan_text(planned))
        return 0
    arn = backfill_run.start_run(sfn, target, options)
    print(f"started {arn}", file=sys.stderr, flush=True)
    if args.no_wait:
        print(arn)
        return 0
    desc = backfill_run.wait(sfn, arn, timeout=args.timeout)
    return _print_report(client, target, args, arn, desc)


def _print_report(client: Any, target: backfill_run.Target, args: argparse.Namespace, arn: str, desc: Any) -> int:
    report = backfill_run.load_report(client("s3"), client("stepfunctions"), target.bucket, arn, desc)
    if args.json:
        print(json.dumps({"execution": arn, "status": desc["status"], **report.as_dict()}, indent=2))
    else:
        print(report_text(arn, desc["status"], report, desc.get("error")))
    return 0 if desc["status"] == "SUCCEEDED" else 1


def configure(parser: argparse.ArgumentParser, *, endpoint_default: str | None) -> None:
    parser.add_argument("--stack", default="photosort", help="the photosort stack (default: photosort)")
    parser.add_argument("--mode", choices=[m.value for m in backfill.Mode], help="what to do with each key")
    parser.add_argument("--prefix", default="", help="only keys under this prefix (default: the whole bucket)")
    parser.add_argument(
        "--manifest",
        metavar="S3_URI",
        help="items from this S3 Inventory manifest (s3://bucket/.../manifest.json, CSV) instead of a listing",
    )
    if endpoint_default is not None:  # photosort local backfill
        parser.add_argument(
            "--inventory",
            action="store_true",
            help="write an S3 Inventory of the local bucket and read the items from it (as --manifest on AWS)",
        )
    parser.add_argument("--all", action="store_true", help="reclassify: every photo, not only older models'")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, cost and duration; change nothing")
    parser.add_argument("--report", metavar="EXECUTION_ARN", help="print the report of a run (waits for it)")
    parser.add_argument("--no-wait", action="store_true", help="start the run and print its ARN")
    parser.add_argument("--timeout", type=float, default=86_400.0, help="seconds to wait for the run")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--endpoint-url", default=endpoint_default, help="an AWS-compatible endpoint")
    parser.add_argument("--region", help="AWS region (default: from your AWS configuration)")
    parser.set_defaults(run=run)


def add_parser(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "backfill",
        help="sort what is already in the bucket, re-route on new rules, reclassify on a new model",
        description=(
            "Start the stack's backfill machine (a Distributed Map over the bucket listing) in one mode and print "
            "its report, or with --dry-run the plan, cost and duration without changing anything."
        ),
    )
    configure(parser, endpoint_default=None)
