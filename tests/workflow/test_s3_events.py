"""What S3 sends EventBridge on the local stack: one "Object Created" per upload, with S3's ``detail.reason``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image
from samtranslator.yaml_helper import yaml_parse

from photosort_local.samples import find_sample
from tests.support.harness import Harness

PART = 5 * 1024 * 1024  # S3's smallest part but the last


def _big_png() -> bytes:
    """A real PNG over 5 MiB (noise does not compress), so it takes two parts."""
    pixels = np.random.default_rng(7).integers(0, 256, size=(1400, 1400, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "PNG", compress_level=1)
    data = buf.getvalue()
    assert len(data) > PART
    return data


def _new_events(harness: Harness, before: set[str]) -> list[dict]:
    harness.stack.wait_idle(timeout=180)
    return [e for arn, e in harness.stack.executions().items() if arn not in before]


def test_a_multipart_upload_starts_one_execution_and_its_record_points_at_a_real_key(harness: Harness) -> None:
    key = harness.unique("big.png")
    data = _big_png()
    before = set(harness.stack.executions())
    upload = harness.s3.create_multipart_upload(Bucket=harness.stack.bucket, Key=key)["UploadId"]
    parts = []
    for number, start in enumerate(range(0, len(data), PART), start=1):
        etag = harness.s3.upload_part(
            Bucket=harness.stack.bucket, Key=key, UploadId=upload, PartNumber=number, Body=data[start : start + PART]
        )["ETag"]
        parts.append({"PartNumber": number, "ETag": etag})
    assert len(parts) == 2
    harness.s3.complete_multipart_upload(
        Bucket=harness.stack.bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )

    events = _new_events(harness, before)
    assert [e["detail"]["reason"] for e in events] == ["CompleteMultipartUpload"]
    assert events[0]["detail-type"] == "Object Created"
    record = harness.record_for(key)
    assert record is not None
    assert record.destination_key in harness.keys()
    assert not harness.keys(key)


def test_put_and_copy_carry_s3s_reason(harness: Harness) -> None:
    key = harness.unique("cat.png")
    before = set(harness.stack.executions())
    harness.s3.put_object(Bucket=harness.stack.bucket, Key=key, Body=find_sample("chelsea").read_bytes())
    put_events = _new_events(harness, before)
    assert [e["detail"]["reason"] for e in put_events] == ["PutObject"]

    # The "stuck in incoming/" replay copies an object onto itself; a copy from elsewhere looks the same.
    harness.s3.put_object(Bucket=harness.stack.bucket, Key="sam-local/coffee.png", Body=b"not sorted here")
    before = set(harness.stack.executions())
    harness.s3.copy_object(
        Bucket=harness.stack.bucket,
        Key=harness.unique("copied.png"),
        CopySource={"Bucket": harness.stack.bucket, "Key": "sam-local/coffee.png"},
    )
    assert [e["detail"]["reason"] for e in _new_events(harness, before)] == ["CopyObject"]


def test_functions_keep_the_templates_architecture(harness: Harness) -> None:
    functions = harness.stack.client("lambda").list_functions()["Functions"]
    template = yaml_parse((Path(__file__).resolve().parents[2] / "template.yaml").read_text())["Resources"]
    assert (
        len(functions) == sum(r["Type"] == "AWS::Serverless::Function" for r in template.values()) == 8
    )  # Classify, Record, Sort, Quarantine, the sweeper, the API, the backfill batch and lock functions
    assert {tuple(f["Architectures"]) for f in functions} == {("arm64",)}
