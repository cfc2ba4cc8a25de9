"""Fixtures for the reliability tests: the embedded stack (as in tests/workflow) and a bare moto S3 bucket."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from photosort_local.stack import EmbeddedStack
from tests.workflow.conftest import Harness

# The stack rejects uploads above this (PHOTOSORT_MAX_IMAGE_BYTES, via the MaxImageBytes parameter), so a
# TooLarge upload stays cheap. Every generator in tests/reliability/images.py makes far smaller images.
STACK_MAX_IMAGE_BYTES = 3 * 1024 * 1024
BUCKET = "reliability-bucket"


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack(parameters={"MaxImageBytes": str(STACK_MAX_IMAGE_BYTES)}, stack_name="reliability") as running:
        yield running


@pytest.fixture
def harness(stack: EmbeddedStack) -> Harness:
    return Harness(stack)


def _bucket() -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        yield s3


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with an empty bucket named ``BUCKET``, fresh for each test."""
    yield from _bucket()


@pytest.fixture(scope="module")
def module_s3() -> Iterator[Any]:
    """The same, shared by a module (hypothesis tests cannot use function-scoped fixtures)."""
    yield from _bucket()
