"""Classify step: label the image with the configured backend (the model loads once per container)."""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.backends import create_backend
from photosort.models import ClassifyInput
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
s3 = boto3.client("s3")
backend = create_backend(settings, boto3.client)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=ClassifyInput)
def lambda_handler(event: ClassifyInput, context: LambdaContext) -> dict[str, Any]:
    classification = pipeline.classify(s3, backend, event.inspection)
    top = classification.labels[0] if classification.labels else None
    logger.info("classified", backend=classification.backend, top=top.name if top else None)
    metrics.add_metric(name="ImagesClassified", unit=MetricUnit.Count, value=1)
    return classification.model_dump(mode="json")
