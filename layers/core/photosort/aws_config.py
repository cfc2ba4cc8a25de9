"""botocore settings for the pipeline's own AWS calls (no clients are built here).

botocore's default ("legacy") retry mode gives DynamoDB 10 retries with exponential backoff: up to ~50 s of
retrying a throttle inside one invocation, far past a step's timeout, which AWS then reports as a timed-out
function (``Lambda.Unknown``) instead of the ``StoreBusyError`` the state machine retries with backoff. Standard
mode with 3 attempts keeps the SDK's quick retries and hands a persistent throttle to the workflow within ~3 s.
"""

from __future__ import annotations

from botocore.config import Config

DYNAMODB_MAX_ATTEMPTS = 3


def dynamodb_config() -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": DYNAMODB_MAX_ATTEMPTS}, connect_timeout=2, read_timeout=3
    )
