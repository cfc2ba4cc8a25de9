"""A JPEG XL photo and a video dropped into incoming/ land in rejected/ with a reason that names the format."""

from __future__ import annotations

import pytest

from photosort.models import Status
from tests.support.harness import Harness
from tests.unit.test_format_signatures import CASES


@pytest.mark.parametrize(("name", "expected"), [("jpeg-xl container", "JPEG XL"), ("mp4", "video/mp4")])
def test_rejected_with_the_format_named(harness: Harness, name: str, expected: str) -> None:
    data, _ = CASES[name]
    result = harness.upload(harness.unique(f"{name.replace(' ', '-')}.bin"), data)
    assert result.outcome.status == "SUCCEEDED"
    assert result.record is not None and result.record.status is Status.REJECTED
    assert result.record.reason.startswith(f"UnsupportedFormat: {expected}")
    assert result.record.destination_key.startswith("rejected/")
