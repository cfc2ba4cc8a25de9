"""Sweep step (scheduled, outside the workflow): re-drive, complete or quarantine what is stuck under incoming/."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import sweeper
from photosort.aws_config import dynamodb_config
from photosort.models import SweepInput
from photosort.observability import log_metrics
from photosort.repository import Repository
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
s3 = boto3.client("s3")
sfn = boto3.client("stepfunctions")
ddb = boto3.client("dynamodb", config=dynamodb_config())
repo = Repository(ddb, settings.require_table())
ledger = sweeper.SweepLedger(ddb, settings.require_table())


@logger.inject_lambda_context
@log_metrics(metrics)
@tracer.capture_lambda_handler
@event_parser(model=SweepInput)
def lambda_handler(event: SweepInput, context: LambdaContext) -> dict[str, Any]:
    report = sweeper.sweep(
        s3,
        sfn,
        repo,
        ledger,
        bucket=settings.require("bucket_name"),
        state_machine_arn=settings.require("state_machine_arn"),
        older_than=timedelta(minutes=event.older_than_minutes),
        max_objects=event.max_objects,
        max_redrives=event.max_redrives,
        max_scanned=event.max_scanned,
    )
    summary = report.as_dict()
    if report.stuck or report.errors:
        logger.warning("swept incoming/", **summary)
    else:
        logger.info("swept incoming/: nothing stuck", scanned=report.scanned)
    metrics.add_metric(name="StuckObjects", unit=MetricUnit.Count, value=report.stuck)
    metrics.add_metric(name="SweepErrors", unit=MetricUnit.Count, value=len(report.errors))
    return summary
