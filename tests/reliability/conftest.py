"""The reliability tests' stack rejects uploads above STACK_MAX_IMAGE_BYTES, so a TooLarge upload stays cheap."""

from __future__ import annotations

import pytest

from tests.reliability.images import STACK_MAX_IMAGE_BYTES


@pytest.fixture(scope="module")
def stack_parameters() -> dict[str, str]:
    return {"MaxImageBytes": str(STACK_MAX_IMAGE_BYTES)}
