"""Helpers for the model tests: the real sample photos (shipped inside installed packages)."""

from __future__ import annotations

import pytest

from photosort_local.samples import find_sample


@pytest.fixture(scope="session")
def sample_photo():
    """``sample_photo("chelsea") -> bytes``."""
    return lambda name: find_sample(name).read_bytes()
