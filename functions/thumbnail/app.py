"""Thumbnail step: write a small upright WebP of a sorted photo under thumbnails/ (after Sort)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import ThumbnailInput
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=ThumbnailInput)
def lambda_handler(event: ThumbnailInput, context: LambdaContext) -> dict[str, Any]:
    result = pipeline.thumbnail(s3, event.inspection, event.decision, settings)
    logger.info("thumbnail", image_id=event.decision.image_id, key=result.key, bytes=result.bytes)
    metrics.add_metric(name="ThumbnailsWritten", unit=MetricUnit.Count, value=1 if result.key else 0)
    return result.model_dump(mode="json")
