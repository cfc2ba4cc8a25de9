"""Fixtures for workflow tests: template.yaml deployed into moto, running the real ASL and handlers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from photosort.models import ImageRecord
from photosort.repository import Repository
from photosort_local.stack import EmbeddedStack, ExecutionOutcome


@dataclass
class Sorted:
    outcome: ExecutionOutcome
    record: ImageRecord | None
    keys: list[str]


class Harness:
    """Upload, wait, and look at what the pipeline did."""

    def __init__(self, stack: EmbeddedStack) -> None:
        self.stack = stack
        self.s3 = stack.s3
        self.repo = Repository(stack.client("dynamodb"), stack.table)

    def unique(self, name: str) -> str:
        return f"incoming/{uuid.uuid4().hex[:8]}/{name}"

    def upload(self, key: str, data: bytes, **extra: Any) -> Sorted:
        before = set(self.stack.executions())
        self.s3.put_object(Bucket=self.stack.bucket, Key=key, Body=data, **extra)
        outcomes = [o for o in self.stack.wait_idle(timeout=120) if o.arn not in before]
        assert len(outcomes) == 1, f"expected one execution for {key}, got {len(outcomes)}"
        return Sorted(outcomes[0], self.record_for(key), self.keys())

    def record_for(self, source_key: str) -> ImageRecord | None:
        found = [r for r in self.repo.scan_images() if r.source_key == source_key]
        assert len(found) <= 1, f"{len(found)} records for {source_key}"
        return found[0] if found else None

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.stack.bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def keys_with_hash(self, sha8: str) -> list[str]:
        return [k for k in self.keys() if sha8 in k]


@pytest.fixture(scope="module")
def stack() -> Iterator[EmbeddedStack]:
    with EmbeddedStack() as running:
        yield running


@pytest.fixture
def harness(stack: EmbeddedStack) -> Harness:
    return Harness(stack)
