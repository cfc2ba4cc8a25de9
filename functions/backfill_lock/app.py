"""Backfill lock step: the backfill machine's first and last state (one backfill at a time)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from photosort import backfill
from photosort.aws_config import dynamodb_config
from photosort.settings import Settings

logger = Logger()
settings = Settings.from_env()
options = backfill.BackfillSettings.from_env()
sfn = boto3.client("stepfunctions")


def _running(execution_arn: str) -> bool:
    try:
        return sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING"
    except sfn.exceptions.ExecutionDoesNotExist:
        return False


lock = backfill.BackfillLock(boto3.client("dynamodb", config=dynamodb_config()), settings.require_table(), _running)


@logger.inject_lambda_context
@event_parser(model=backfill.LockRequest)
def lambda_handler(event: backfill.LockRequest, context: LambdaContext) -> dict[str, Any]:
    result = backfill.lock_step(lock, event, options, datetime.now(UTC))
    logger.info("backfill lock", action=event.action, execution=event.execution)
    return result
