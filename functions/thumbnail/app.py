"""Thumbnail step: write a small upright WebP of a sorted photo under thumbnails/ (after Sort).

No metrics here (as in Inspect, Classify and Sort): Lambda's own Invocations/Errors/Duration cover the step, and
each EMF line is ~0.22 KB of logs per invocation (README "Cost"). A missing thumbnail shows in the result.
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import ThumbnailInput
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
s3 = boto3.client("s3")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ThumbnailInput)
def lambda_handler(event: ThumbnailInput, context: LambdaContext) -> dict[str, Any]:
    result = pipeline.thumbnail(s3, event.inspection, event.decision, settings)
    logger.info("thumbnail", image_id=event.decision.image_id, key=result.key, bytes=result.bytes)
    return result.model_dump(mode="json")
