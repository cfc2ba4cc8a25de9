"""Classify step: inspect the upload (identify it from its bytes, extract its metadata, or say why it is unusable)
and label it with the configured backend, from one GetObject (the model loads once per container).

No metrics here (nor in Sort): Lambda's own Invocations/Errors/Duration cover the step, and Record's
Images_<status> counts the outcomes; each EMF line is ~0.22 KB of logs per invocation (README "Cost").
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.parser.models import S3EventNotificationEventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.backends import create_backend
from photosort.models import ObjectRef
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
s3 = boto3.client("s3")
backend = create_backend(settings, boto3.client)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=S3EventNotificationEventBridgeModel)
def lambda_handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    analysis = pipeline.inspect_and_classify(s3, backend, ObjectRef.from_event(event), event.time, settings)
    top = analysis.classification.labels[0] if analysis.classification and analysis.classification.labels else None
    logger.info(
        "classified",
        key=analysis.inspection.object.key,
        usable=analysis.inspection.usable,
        gone=analysis.inspection.gone,
        top=top.name if top else None,
    )
    return analysis.model_dump(mode="json")
