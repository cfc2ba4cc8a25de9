"""Sort step: move the object to its decided key (copy, verify, then delete the original)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import SortInput

logger = Logger()
tracer = Tracer()
metrics = Metrics()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=SortInput)
def lambda_handler(event: SortInput, context: LambdaContext) -> dict[str, Any]:
    result = pipeline.sort(s3, event.inspection, event.decision)
    logger.info("sorted", source=result.source_key, destination=result.destination_key, moved=result.moved)
    metrics.add_metric(name="ImagesMoved", unit=MetricUnit.Count, value=1 if result.moved else 0)
    return result.model_dump(mode="json")
