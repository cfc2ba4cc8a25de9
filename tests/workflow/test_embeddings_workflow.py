"""Embeddings on the embedded stack: near-duplicates, and the dealership case with a trained few-shot head.

The head is trained on ``tests/data/vehicles`` (one sub-folder per body type; sources in its SOURCES.md),
uploaded to the stack's bucket under ``heads/`` (template parameter ``LabelHeadKey``) and applied by the
Classify function; the routing rules send each body type to its own inventory category.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from photosort import embeddings, repository
from photosort.backends.local import LocalClassifier
from photosort.fewshot import LabelHead, train_head
from photosort.imaging import load_rgb
from photosort.models import Embedding, Status
from photosort_local.cli.labels import embed_folder
from photosort_local.cli.near_duplicates import copies
from photosort_local.samples import find_sample
from photosort_local.stack import EmbeddedStack
from tests.support.harness import Harness

VEHICLES = Path(__file__).resolve().parents[1] / "data" / "vehicles"
HEAD_KEY = "heads/dealership.json"
DEALER_RULES = {
    "min_confidence": 50,
    "rules": [
        {"album": body, "kind": "inventory", "labels": [body], "path": "{stem}-{sha8}{ext}"}
        for body in ("car", "truck", "bus")
    ],
}


def _jpeg(data: bytes, scale: float = 0.75) -> bytes:
    img = load_rgb(data)
    img = img.resize((int(img.width * scale), int(img.height * scale)), Image.Resampling.BICUBIC)
    out = io.BytesIO()
    img.save(out, "JPEG", quality=88)
    return out.getvalue()


@pytest.fixture(scope="module")
def head() -> LabelHead:
    data = embed_folder(VEHICLES, progress=False)
    return train_head("dealership", data.vectors, data.targets, data.labels, data.model_version)


@pytest.fixture(scope="module")
def dealer(head: LabelHead) -> Iterator[Harness]:
    params = {
        "RoutingRules": json.dumps(DEALER_RULES),
        "LabelHeadKey": HEAD_KEY,
        "LabelHeadMaxAge": "0",  # re-read on every photo, so the test sees a changed head at once
        "NearDuplicates": "off",
    }
    with EmbeddedStack(parameters=params, stack_name="dealer-head") as stack:
        stack.s3.put_object(Bucket=stack.bucket, Key=HEAD_KEY, Body=head.to_json().encode())
        yield Harness(stack)


@pytest.mark.parametrize(
    ("body", "photo"), [("car", "sedan.png"), ("truck", "firetruck.png"), ("bus", "pexels_double_decker_bus.jpg")]
)
def test_trained_head_routes_car_photos_by_body_type_into_inventory(dealer: Harness, body: str, photo: str) -> None:
    data = _jpeg((VEHICLES / body / photo).read_bytes())

    result = dealer.upload(dealer.unique(f"lot 3/{photo}.jpg"), data)

    record = result.record
    assert result.outcome.status == "SUCCEEDED"
    assert record is not None and record.status is Status.SORTED, record
    assert record.destination_key.startswith(f"inventory/{body}/")
    label = next(lab for lab in record.labels if lab.name == body)
    assert label.categories == ("Custom",) and label.confidence >= 50
    # the embedding is named by the classifier alone; the record's version adds the face detector's family
    assert result.outcome.output is not None
    embedding = result.outcome.output["classification"]["embedding"]
    assert record.model_version is not None and record.model_version.startswith(embedding["model_version"] + "+")
    assert result.record.memberships[0].album == body


def test_changed_head_is_picked_up_without_a_redeploy(dealer: Harness, head: LabelHead) -> None:
    relabelled = head.labels[1:] + head.labels[:1]  # a "retrained" head whose labels say something else
    renamed = LabelHead(
        name=head.name,
        labels=relabelled,
        model_version=head.model_version,
        method=head.method,
        weights=head.weights,
        bias=head.bias,
        version="renamed",
    )
    dealer.s3.put_object(Bucket=dealer.stack.bucket, Key=HEAD_KEY, Body=renamed.to_json().encode())
    try:
        result = dealer.upload(dealer.unique("lot 4/bus.jpg"), _jpeg((VEHICLES / "bus" / "bus_det.jpg").read_bytes()))
    finally:
        dealer.s3.put_object(Bucket=dealer.stack.bucket, Key=HEAD_KEY, Body=head.to_json().encode())

    now_called = relabelled[head.labels.index("bus")]
    assert now_called != "bus"
    assert result.record is not None and result.record.destination_key.startswith(f"inventory/{now_called}/")


def test_head_trained_on_another_model_version_is_refused(dealer: Harness, head: LabelHead) -> None:
    other = LabelHead(
        name=head.name,
        labels=head.labels,
        model_version="efficientnet-lite0-imagenet-int8-00000000",
        method=head.method,
        weights=head.weights,
        bias=head.bias,
    )
    dealer.s3.put_object(Bucket=dealer.stack.bucket, Key=HEAD_KEY, Body=other.to_json().encode())
    try:
        data = _jpeg((VEHICLES / "car" / "beetle.png").read_bytes())
        result = dealer.upload(dealer.unique("lot 5/beetle.jpg"), data)
    finally:
        dealer.s3.put_object(Bucket=dealer.stack.bucket, Key=HEAD_KEY, Body=head.to_json().encode())

    record = result.record
    assert record is not None and record.status is Status.FAILED
    assert record.reason.startswith("HeadModelMismatchError")
    assert "was trained on model 'efficientnet-lite0-imagenet-int8-00000000'" in record.reason
    assert record.destination_key.startswith("failed/")
    assert record.destination_key in dealer.keys("failed/")


# -- near-duplicates ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def photos() -> Iterator[Harness]:
    with EmbeddedStack(parameters={"NearDuplicates": "record"}, stack_name="near-dups") as stack:
        yield Harness(stack)


def test_copies_are_recorded_as_near_duplicates_of_the_first_photo(photos: Harness) -> None:
    original = find_sample("coffee").read_bytes()
    first = photos.upload(photos.unique("coffee.png"), original)
    assert first.record is not None and first.record.near_duplicate_of is None

    for kind, data in copies(original).items():
        copy = photos.upload(photos.unique(f"copy of coffee ({kind}).jpg"), data)

        record = copy.record
        assert record is not None, kind
        assert record.near_duplicate_of == first.record.image_id, kind  # the first one, never another copy
        assert record.near_duplicate_similarity is not None and record.near_duplicate_similarity >= 0.8
        assert record.status is Status.SORTED and record.duplicate_of is None  # policy "record": sorted as usual
        assert f"near-duplicate of image {first.record.image_id}" in record.reason
        tags = photos.s3.get_object_tagging(Bucket=photos.stack.bucket, Key=record.destination_key)["TagSet"]
        assert {"Key": "photosort-near-duplicate-of", "Value": first.record.image_id} in tags


def test_exact_copy_stays_an_exact_duplicate_and_distinct_photos_are_not_near_duplicates(photos: Harness) -> None:
    rocket = find_sample("rocket").read_bytes()
    first = photos.upload(photos.unique("rocket.jpg"), rocket)
    again = photos.upload(photos.unique("rocket again.jpg"), rocket)
    other = photos.upload(photos.unique("china.jpg"), find_sample("china").read_bytes())

    assert first.record is not None and first.record.near_duplicate_of is None
    assert again.record is not None and again.record.status is Status.DUPLICATE
    assert again.record.duplicate_of == first.record.image_id and again.record.near_duplicate_of is None
    assert other.record is not None and other.record.near_duplicate_of is None


def test_the_index_keeps_a_compact_embedding_and_the_record_none(photos: Harness) -> None:
    result = photos.upload(photos.unique("hopper.jpg"), find_sample("grace_hopper").read_bytes())
    record = result.record
    assert record is not None and record.embedding is None  # not stored in the record: it stays one write unit
    item = photos.repo.client.get_item(TableName=photos.stack.table, Key=repository.image_key(record.image_id))["Item"]
    assert "embedding" not in item and repository.item_size(item) < 1024
    found = photos.repo.client.scan(
        TableName=photos.stack.table,
        FilterExpression="image_id = :i AND #t = :near",
        ExpressionAttributeNames={"#t": "type"},
        ExpressionAttributeValues={":i": {"S": record.image_id}, ":near": {"S": "near"}},
    )["Items"]
    assert len(found) == 4  # one item per partition (its 4 strongest features)
    data = found[0]["embedding"]["S"]
    assert len(data) == 1708  # 1280 int8 values, base64
    classifier = LocalClassifier()
    direct = embeddings.encode(classifier.run_model(_tensor(find_sample("grace_hopper").read_bytes()))[1], "v")
    stored = Embedding(model_version="v", dim=1280, data=data)
    assert embeddings.cosine(direct, stored) == pytest.approx(1.0, abs=1e-6)
    assert np.isclose(np.linalg.norm(embeddings.decode(stored)), 1.0)


def _tensor(data: bytes) -> np.ndarray:
    from photosort.backends.local import preprocess

    return preprocess(data)
