"""Fixtures for the unit tests: photosort's table in moto (the moto S3 bucket ``s3`` is in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from photosort.repository import Repository
from tests.support.tables import moto_repository


@pytest.fixture
def repo() -> Iterator[Repository]:
    """A Repository over a fresh moto table built from template.yaml's definition."""
    yield from moto_repository()
