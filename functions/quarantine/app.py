"""Quarantine step (the workflow's Catch target): record the failure and move the object under failed/."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import ObjectRef, QuarantineInput
from photosort.repository import Repository
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
s3 = boto3.client("s3")
repo = Repository(boto3.client("dynamodb"), settings.require_table())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=QuarantineInput)
def lambda_handler(event: QuarantineInput, context: LambdaContext) -> dict:
    ref = ObjectRef.from_event(event.event)
    decision = pipeline.quarantine(s3, repo, ref, event.error)
    logger.warning("quarantined", key=ref.key, error=event.error.error, destination=decision.destination_key)
    metrics.add_metric(name="ImagesFailed", unit=MetricUnit.Count, value=1)
    return decision.model_dump(mode="json")
