"""The cost model bills what the code does: real photos through the embedded stack, every S3 and DynamoDB request
counted (moto's request stubber sees each one the handlers make) and every item written sized, against
``model.sorted_photo_requests``. A change that adds a call, an index or a bigger item fails here first.

Warm containers: the first photos of an album read (and once ever write) its album item; the model prices the
steady state (album items known), so the measured photos follow a warm-up batch of the same photos.
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from photosort import repository
from photosort.models import Status
from photosort.repository import Repository
from photosort_local.cost import model
from photosort_local.samples import find_sample
from photosort_local.stack import EmbeddedStack

PHOTOS = ("chelsea", "coffee", "rocket", "motorcycle_left", "astronaut", "china")
SERVICES = ("s3", "dynamodb")


class RequestLog:
    """Every request botocore sends to moto, as (service, operation, body), while recording is on."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, bytes]] = []
        self.recording = False
        self._lock = threading.Lock()

    def __call__(self, event_name: str, request: Any) -> None:
        if not self.recording:
            return
        _, service, operation = event_name.split(".", 2)
        if service == "s3" and operation == "PutObject" and "/incoming/" in request.url:
            return  # the user's upload, not the pipeline's
        if service in SERVICES:
            body = request.body if service == "dynamodb" and isinstance(request.body, bytes) else b""
            with self._lock:
                self.calls.append((service, operation, body))

    def counts(self, service: str) -> Counter[str]:
        return Counter(op for svc, op, _ in self.calls if svc == service)


@pytest.fixture(scope="module")
def measured() -> Iterator[tuple[RequestLog, EmbeddedStack, list[Any]]]:
    from moto.core.botocore_stubber import BotocoreStubber

    log = RequestLog()
    original = BotocoreStubber.__call__

    def spy(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        log(event_name, request)
        return original(self, event_name, request, **kwargs)

    mp = pytest.MonkeyPatch()
    mp.setattr(BotocoreStubber, "__call__", spy)
    try:
        with EmbeddedStack(parameters={"NearDuplicates": "off"}) as stack:
            for round_ in ("warm", "measured"):
                for name in PHOTOS:
                    img = Image.open(find_sample(name)).convert("RGB")
                    img.putpixel((0, 0), (len(round_), 7, 9))  # new bytes, the same photo and album
                    out = io.BytesIO()
                    img.save(out, format="PNG")
                    key = f"incoming/{round_}/{name}.png"
                    log.recording = round_ == "measured"
                    stack.s3.put_object(Bucket=stack.bucket, Key=key, Body=out.getvalue())
                    outcomes = stack.wait_idle(timeout=180)
                    log.recording = False
                    assert all(o.status == "SUCCEEDED" for o in outcomes), outcomes
            repo = Repository(stack.client("dynamodb"), stack.table)
            records = [r for r in repo.scan_images() if r.source_key.startswith("incoming/measured/")]
            yield log, stack, records
    finally:
        mp.undo()


def test_every_measured_photo_was_sorted(measured: tuple[RequestLog, EmbeddedStack, list[Any]]) -> None:
    _, _, records = measured
    assert len(records) == len(PHOTOS)
    assert {r.status for r in records} <= {Status.SORTED, Status.UNSORTED}


def test_s3_requests_are_the_models(measured: tuple[RequestLog, EmbeddedStack, list[Any]]) -> None:
    log, _, records = measured
    per_photo = model.sorted_photo_requests().s3
    assert log.counts("s3") == Counter({op: n * len(records) for op, n in per_photo.items()})


def test_dynamodb_requests_are_the_models(measured: tuple[RequestLog, EmbeddedStack, list[Any]]) -> None:
    log, _, records = measured
    expected: Counter[str] = Counter()
    for r in records:
        expected.update(model.sorted_photo_requests(len(r.memberships)).dynamodb)
    assert log.counts("dynamodb") == expected
    assert model.sorted_photo_requests().dynamodb == model.sorted_photo_requests(model.MEMBERSHIPS).dynamodb


def test_written_items_cost_the_models_write_units(measured: tuple[RequestLog, EmbeddedStack, list[Any]]) -> None:
    """Each write's units from the item it leaves (an UpdateItem costs the larger of before and after: the claim
    item is new, so its final size); no GSI, so no index writes."""
    log, stack, records = measured
    db = stack.client("dynamodb")
    wru = 0
    for service, op, body in log.calls:
        if service != "dynamodb":
            continue
        request = json.loads(body)
        if op == "PutItem":
            wru += repository.write_units(request["Item"])
        elif op == "UpdateItem":
            item = db.get_item(TableName=stack.table, Key=request["Key"], ConsistentRead=True)["Item"]
            wru += repository.write_units(item)
        else:
            raise AssertionError(f"a write the model does not bill: {op}")
    assert model.gsi_item_kb() == {}
    expected = sum(model.sorted_photo_requests(len(r.memberships)).wru for r in records)
    assert wru == expected
    rru = sum(model.sorted_photo_requests(len(r.memberships)).rru for r in records)
    assert rru == 0 and not log.counts("dynamodb") & Counter({"GetItem": 1, "Query": 1, "BatchGetItem": 1})


def test_records_fit_one_write_unit(measured: tuple[RequestLog, EmbeddedStack, list[Any]]) -> None:
    _, stack, records = measured
    db = stack.client("dynamodb")
    for r in records:
        item = db.get_item(TableName=stack.table, Key=repository.image_key(r.image_id))["Item"]
        assert repository.item_size(item) < 1024 * model.IMAGE_ITEM_KB, (r.source_key, repository.item_size(item))
