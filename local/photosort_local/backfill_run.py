"""Starting, planning and reporting a backfill run against a stack (deployed, served, or embedded).

Everything goes through the stack's outputs and ordinary API calls, so the same code runs against AWS, against
``photosort local serve`` (``--endpoint-url``) and against an :class:`~photosort_local.stack.EmbeddedStack` in tests:

* :func:`plan_run` (``--dry-run``): lists the keys the Distributed Map would list (or reads the rows of the S3
  Inventory manifest it would read, :mod:`photosort_local.inventory`) and asks
  :func:`photosort.backfill.plan_item` what each would do, read-only, with the rules and backend the deployed
  BackfillFunction has (read from its configuration); adds the cost and the duration at the configured
  MaxConcurrency (:mod:`photosort_local.cost.backfill`).
* :func:`start_run`: one execution, named ``backfill-<mode>-<UTC time>``; the machine itself refuses a second
  concurrent run.
* :func:`load_report`: the ResultWriter's manifest and files, folded into totals, moves and failed items.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from photosort import backfill, routing
from photosort.backends import create_backend
from photosort.errors import PhotosortError
from photosort.repository import Repository
from photosort.settings import Settings
from photosort_local import inventory
from photosort_local.cost import backfill as backfill_cost

OUTPUTS = ("BackfillStateMachineArn", "PhotoBucketName", "PhotoTableName", "BackfillFunctionName")
FINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


class BackfillCliError(PhotosortError):
    """The stack has no backfill machine, or a run could not be started or read."""


ClientFactory = Callable[[str], Any]


@dataclass
class Target:
    """Where a run goes: the stack's backfill machine, bucket, table and functions."""

    machine: str
    bucket: str
    table: str
    function: str
    lock_function: str | None

    @classmethod
    def from_outputs(cls, outputs: dict[str, str], stack: str) -> Target:
        missing = [k for k in OUTPUTS if k not in outputs]
        if missing:
            raise BackfillCliError(f"stack {stack} has no {', '.join(missing)} output: deploy this version first")
        return cls(
            machine=outputs["BackfillStateMachineArn"],
            bucket=outputs["PhotoBucketName"],
            table=outputs["PhotoTableName"],
            function=outputs["BackfillFunctionName"],
            lock_function=outputs.get("BackfillLockFunctionName"),
        )


def stack_target(client: ClientFactory, stack: str) -> Target:
    try:
        described = client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    except Exception as exc:
        raise BackfillCliError(f"cannot read stack {stack}: {exc}") from exc
    return Target.from_outputs({o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}, stack)


def _environment(client: ClientFactory, function: str | None) -> dict[str, str]:
    if not function:
        return {}
    config = client("lambda").get_function_configuration(FunctionName=function)
    return {k: str(v) for k, v in config.get("Environment", {}).get("Variables", {}).items()}


def keys(s3: Any, bucket: str, prefix: str) -> Iterator[str]:
    """Every key under ``prefix``, as the ItemReader lists them."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"]


@dataclass
class PlannedRun:
    plan: backfill.Plan
    cost: backfill_cost.BackfillEstimate
    prefix: str
    manifest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.plan.as_dict(),
            "prefix": self.prefix,
            "source": "manifest" if self.manifest else "listing",
            "manifest": self.manifest,
            "estimate": self.cost.as_dict(),
        }


def items(client: ClientFactory, target: Target, options: backfill.RunOptions) -> Iterator[str | backfill.BackfillItem]:
    """What the run's ItemReader would read: the prefix's keys, or the manifest's rows."""
    s3 = client("s3")
    if not options.manifest:
        yield from keys(s3, target.bucket, options.prefix)
        return
    try:
        rows = inventory.read_manifest(s3, options.manifest)
    except inventory.InventoryManifestError as exc:
        raise BackfillCliError(str(exc)) from exc
    for row in rows:
        yield backfill.BackfillItem.model_validate(row)


def plan_run(client: ClientFactory, target: Target, options: backfill.RunOptions) -> PlannedRun:
    """What the run would do, without doing it (``--dry-run``)."""
    env = _environment(client, target.function)
    settings = Settings.from_env(env)
    rules = _rules(client, settings)
    lock_settings = backfill.BackfillSettings.from_env(_environment(client, target.lock_function))
    concurrency = lock_settings.concurrency(options.mode)
    if options.manifest:  # refused here as the machine's Lock step would refuse it
        try:
            lock_settings.check_manifest(options.manifest)
        except backfill.InventoryNotAllowedError as exc:
            raise BackfillCliError(str(exc)) from exc
    made: list[Any] = []

    def backend() -> Any:
        if not made:
            made.append(create_backend(settings, client))
        return made[0]

    ctx = backfill.Context(
        s3=client("s3"),
        repo=Repository(client("dynamodb"), target.table),
        rules=lambda: rules,
        backend=backend,
        duplicate_policy=settings.duplicate_policy,
        near=None,
        settings=settings,
    )
    run = backfill.BatchSettings(mode=options.mode, bucket=target.bucket, all=options.all, prefix=options.prefix)
    plan = backfill.plan(ctx, run, items(client, target, options))
    touched = plan.touched
    cost = backfill_cost.estimate(
        options.mode.value,
        plan.listed,
        touched,
        backend=settings.backend.value,
        max_concurrency=concurrency,
        source=options.source.value,
    )
    return PlannedRun(plan=plan, cost=cost, prefix=options.prefix, manifest=options.manifest)


def _rules(client: ClientFactory, settings: Settings) -> routing.RuleSet:
    if not settings.rules_parameter:
        return routing.load_rules(settings.rules)
    text = client("ssm").get_parameter(Name=settings.rules_parameter)["Parameter"]["Value"]
    return routing.parse_rules(text, source=f"SSM parameter {settings.rules_parameter}")


def start_run(sfn: Any, target: Target, options: backfill.RunOptions, *, now: datetime | None = None) -> str:
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"backfill-{options.mode.value}-{moment}"[:80]
    started = sfn.start_execution(
        stateMachineArn=target.machine, name=name, input=json.dumps(options.model_dump(mode="json", exclude_none=True))
    )
    arn: str = started["executionArn"]
    return arn


def wait(sfn: Any, execution_arn: str, *, timeout: float = 3600.0, poll: float = 1.0) -> dict[str, Any]:
    """DescribeExecution until the run ends (bounded); its last description."""
    deadline = time.monotonic() + timeout
    while True:
        desc: dict[str, Any] = sfn.describe_execution(executionArn=execution_arn)
        if desc["status"] in FINAL and (desc["status"] != "SUCCEEDED" or "output" in desc):
            return desc
        if desc["status"] not in ("RUNNING", "PENDING_REDRIVE", "SUCCEEDED"):
            return desc
        if time.monotonic() > deadline:
            raise BackfillCliError(f"{execution_arn} still {desc['status']} after {timeout:.0f} s")
        time.sleep(poll)


def _manifest_key(sfn: Any, execution_arn: str, output: dict[str, Any] | None) -> str | None:
    details = (output or {}).get("results", {}).get("ResultWriterDetails")
    if details:
        key: str = details["Key"]
        return key
    # a failed run has no output: its Map Run's id names the ResultWriter's folder
    runs = sfn.list_map_runs(executionArn=execution_arn).get("mapRuns", [])
    if not runs:
        return None
    return f"{backfill.REPORTS_PREFIX}{runs[0]['mapRunArn'].rsplit(':', 1)[-1]}/manifest.json"


def load_report(s3: Any, sfn: Any, bucket: str, execution_arn: str, desc: dict[str, Any]) -> backfill.Report:
    """The run's report from its ResultWriter files (empty when it failed before its Map Run started)."""
    output = json.loads(desc["output"]) if desc.get("output") else None
    key = _manifest_key(sfn, execution_arn, output)
    if key is None:
        return backfill.Report()
    try:
        manifest = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return backfill.Report()
    entries: list[dict[str, Any]] = []
    for files in manifest.get("ResultFiles", {}).values():
        for f in files:
            entries += json.loads(s3.get_object(Bucket=manifest["DestinationBucket"], Key=f["Key"])["Body"].read())
    return backfill.report(entries)


def redrive_hint(execution_arn: str) -> str:
    return (
        f"Redrive the failed batches: aws stepfunctions redrive-execution --execution-arn {execution_arn}\n"
        "or run the same command again: finished items are skipped (ingest: they left the prefix, and an "
        "inventory's rows for them are reported gone; reroute and reclassify: their records already match)."
    )
