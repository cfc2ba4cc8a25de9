"""Record step: apply the routing rules and write the image record with its albums and counts."""

from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import pipeline
from photosort.models import RecordInput
from photosort.repository import Repository
from photosort.routing import RulesSource
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()
settings = Settings.from_env()
# A bad rules document fails here, before any photo is touched.
rules = RulesSource(settings.rules, settings.rules_parameter, settings.rules_max_age)
repo = Repository(boto3.client("dynamodb"), settings.require_table())


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
@event_parser(model=RecordInput)
def lambda_handler(event: RecordInput, context: LambdaContext) -> dict:
    decision = pipeline.record(
        repo,
        rules.current(),
        settings.duplicate_policy,
        event.inspection,
        event.classification,
        event.backend_rejection,
    )
    logger.info("recorded", image_id=decision.image_id, status=decision.status, destination=decision.destination_key)
    metrics.add_metric(
        name=f"Images_{decision.status.value}", unit=MetricUnit.Count, value=1 if decision.created else 0
    )
    return decision.model_dump(mode="json")
