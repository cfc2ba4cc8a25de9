"""Inspect step: identify the uploaded object from its bytes and extract its metadata, or say why not."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import ObjectRef
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=S3EventNotificationEventBridgeModel)
def lambda_handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict:
    inspection = pipeline.inspect(s3, ObjectRef.from_event(event), event.time, settings)
    logger.info("inspected", key=inspection.object.key, usable=inspection.usable, gone=inspection.gone)
    metrics.add_metric(name="ImagesInspected", unit=MetricUnit.Count, value=1)
    if inspection.rejection is not None:
        metrics.add_metric(name="ImagesRejected", unit=MetricUnit.Count, value=1)
    return inspection.model_dump(mode="json")
