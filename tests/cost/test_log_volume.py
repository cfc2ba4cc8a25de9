"""The cost model's log volume is measured: photos through the embedded stack, bytes written per function.

The in-process runner writes exactly what a function prints (Powertools JSON lines, EMF metrics); the platform's
START/END/REPORT lines are not sent (template: SystemLogLevel WARN). Sampled invocations (1%) are left out of the
measurement by switching sampling off; the model adds them separately.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from photosort_local.cost import model
from photosort_local.samples import find_sample
from photosort_local.stack import EmbeddedStack

PHOTOS = 4


@pytest.fixture(scope="module")
def log_bytes(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    mp = pytest.MonkeyPatch()
    mp.setenv("POWERTOOLS_LOGGER_SAMPLE_RATE", "0")
    logs = tmp_path_factory.mktemp("logs")
    img = Image.open(find_sample("chelsea")).convert("RGB")
    try:
        with EmbeddedStack(log_dir=logs) as stack:
            for i in range(PHOTOS):
                img.putpixel((0, 0), (i, 100, 200))
                out = io.BytesIO()
                img.save(out, format="PNG")
                stack.s3.put_object(Bucket=stack.bucket, Key=f"incoming/logs/{i}.png", Body=out.getvalue())
            outcomes = stack.wait_idle(timeout=120)
            assert [o.status for o in outcomes] == ["SUCCEEDED"] * PHOTOS
    finally:
        mp.undo()
    return {f.name.split("-")[1]: f.stat().st_size for f in Path(logs).iterdir() if f.suffix == ".log"}


def test_sorted_photos_log_only_their_metrics(log_bytes: dict[str, int]) -> None:
    per_photo = sum(log_bytes.values()) / PHOTOS
    assert per_photo <= model.EMF_BYTES_PER_PHOTO * len(model.METRIC_FUNCTIONS), log_bytes
    assert per_photo > 100, "Record's EMF line is missing: the PhotosFailed/outcome metrics would be gone"


def test_only_the_metric_functions_log(log_bytes: dict[str, int]) -> None:
    quiet = {name: size for name, size in log_bytes.items() if not name.lower().startswith(model.METRIC_FUNCTIONS)}
    assert all(size == 0 for size in quiet.values()), quiet
