"""Fixtures every test package shares: fake AWS credentials, no network, sample photos, moto buckets, and the
embedded stack. Helpers (plain functions and classes) live in tests/support/; see tests/README.md."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.support import network
from tests.support.buckets import moto_bucket

if TYPE_CHECKING:
    from photosort_local.stack import EmbeddedStack
    from tests.support.harness import Harness

REPO = Path(__file__).resolve().parents[1]
EVENTS = REPO / "events"


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    network.block()  # loopback only, for the whole session


@pytest.fixture(autouse=True)
def _fake_aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may reach a real AWS account."""
    for key in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")


@pytest.fixture(scope="session")
def photos() -> dict[str, bytes]:
    from photosort_local.samples import SAMPLES, find_sample

    return {name: find_sample(name).read_bytes() for name in SAMPLES}


@pytest.fixture
def s3() -> Iterator[Any]:
    """A moto S3 client with an empty bucket named ``tests.support.buckets.BUCKET``, fresh for each test."""
    yield from moto_bucket()


@pytest.fixture(scope="module")
def module_s3() -> Iterator[Any]:
    """The same, shared by a module (hypothesis tests cannot use function-scoped fixtures)."""
    yield from moto_bucket()


@pytest.fixture(scope="module")
def stack_parameters() -> dict[str, str]:
    """Template parameters for the module's ``stack``; a conftest.py or test module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
def stack(stack_parameters: dict[str, str]) -> Iterator[EmbeddedStack]:
    """template.yaml deployed into moto, running the real ASL and handlers, shared by a module."""
    from photosort_local.stack import EmbeddedStack

    with EmbeddedStack(parameters=stack_parameters) as running:
        yield running


@pytest.fixture
def harness(stack: EmbeddedStack) -> Harness:
    from tests.support.harness import Harness

    return Harness(stack)
