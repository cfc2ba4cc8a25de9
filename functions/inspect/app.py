"""Inspect step: identify the uploaded object from its bytes and extract its metadata, or say why not.

No metrics here (nor in Classify and Sort): Lambda's own Invocations/Errors/Duration cover the step, and Record's
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
from photosort.models import ObjectRef
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=S3EventNotificationEventBridgeModel)
def lambda_handler(event: S3EventNotificationEventBridgeModel, context: LambdaContext) -> dict[str, Any]:
    inspection = pipeline.inspect(s3, ObjectRef.from_event(event), event.time, settings)
    logger.info("inspected", key=inspection.object.key, usable=inspection.usable, gone=inspection.gone)
    return inspection.model_dump(mode="json")
