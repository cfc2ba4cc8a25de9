"""Backfill step (the backfill machine's Distributed Map child): sort, reroute or reclassify one batch of keys."""

from __future__ import annotations

import functools
from typing import Any

import boto3
from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import backfill, neardup
from photosort.aws_config import dynamodb_config
from photosort.backends import Classifier, create_backend
from photosort.repository import Repository
from photosort.routing import RulesSource
from photosort.settings import Settings

logger = Logger()
tracer = Tracer()
settings = Settings.from_env()
rules = RulesSource(settings.rules, settings.rules_parameter, settings.rules_max_age)


@functools.cache
def backend() -> Classifier:
    """Built on first use: a reroute never loads a model."""
    return create_backend(settings, boto3.client)


items = backfill.Context(
    s3=boto3.client("s3"),
    repo=Repository(boto3.client("dynamodb", config=dynamodb_config()), settings.require_table()),
    rules=rules.current,
    backend=backend,
    duplicate_policy=settings.duplicate_policy,
    near=neardup.NearDuplicateSettings.from_settings(settings),
    settings=settings,
)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=backfill.BatchEvent)
def lambda_handler(event: backfill.BatchEvent, context: LambdaContext) -> dict[str, Any]:
    result = backfill.process_batch(items, event)
    logger.info("batch", mode=event.settings.mode, items=len(result.items))
    return result.model_dump(mode="json")
